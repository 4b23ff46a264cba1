// BEP 44 items: the BEP's test vectors byte for byte (targets, the signed
// buffer, signatures made and checked), RFC 8032's first ed25519 vector, and
// MutableItem's checks in their order.
#include "nexo/overlay/item.hpp"

#include <gtest/gtest.h>

#include <string>

namespace nexo::overlay {
namespace {

namespace bencode = wire::bencode;

template <std::size_t N>
std::array<std::uint8_t, N> unhex(std::string_view hex) {
  EXPECT_EQ(hex.size(), 2 * N);
  auto nibble = [](char c) { return static_cast<std::uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10); };
  std::array<std::uint8_t, N> out{};
  for (std::size_t i = 0; i < N && 2 * i + 1 < hex.size(); ++i)
    out[i] = static_cast<std::uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  return out;
}

// BEP 44, "Test vectors". The private key is the expanded form (scalar | prefix).
const ExpandedSecret kBepSecret = unhex<64>(
    "e06d3183d14159228433ed599221b80bd0a5ce8352e4bdf0262f76786ef1c74d"
    "b7e7a9fea2c0eb269d61e3b38e450a22e754941ac78479d6c54e1faf6037881d");
const PublicKey kBepPublic =
    unhex<32>("77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548");
const Signature kBepSig1 = unhex<64>(
    "305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff"
    "1260d3f39e4999684aa92eb73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01");
const Signature kBepSig2 = unhex<64>(
    "6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17d"
    "df9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08");

TEST(ItemStoreBep44, Test1MutableWithoutSalt) {
  const SigningKey key = SigningKey::from_expanded(kBepSecret);
  EXPECT_EQ(key.public_key(), kBepPublic);
  const std::string v = encode_value(bencode::Value("Hello World!"));
  EXPECT_EQ(v, "12:Hello World!");
  const std::string buffer = signature_buffer("", 1, v);
  EXPECT_EQ(buffer, "3:seqi1e1:v12:Hello World!");
  EXPECT_EQ(key.sign(buffer), kBepSig1);
  EXPECT_TRUE(verify_signature(kBepPublic, kBepSig1, buffer));
  EXPECT_EQ(mutable_target(kBepPublic, "").to_hex(), "4a533d47ec9c7d95b1ad75f576cffc641853b750");

  auto item = MutableItem::sign(key, "", 1, bencode::Value("Hello World!"));
  ASSERT_TRUE(item) << item.error().to_string();
  EXPECT_EQ(item->signature, kBepSig1);
  EXPECT_EQ(item->target().to_hex(), "4a533d47ec9c7d95b1ad75f576cffc641853b750");
  EXPECT_EQ(item->check(), PutCode::stored);
}

TEST(ItemStoreBep44, Test2MutableWithSalt) {
  const SigningKey key = SigningKey::from_expanded(kBepSecret);
  const std::string buffer = signature_buffer("foobar", 1, "12:Hello World!");
  EXPECT_EQ(buffer, "4:salt6:foobar3:seqi1e1:v12:Hello World!");
  EXPECT_EQ(key.sign(buffer), kBepSig2);
  EXPECT_TRUE(verify_signature(kBepPublic, kBepSig2, buffer));
  EXPECT_EQ(mutable_target(kBepPublic, "foobar").to_hex(),
            "411eba73b6f087ca51a3795d9c8c938d365e32c1");

  auto item = MutableItem::sign(key, "foobar", 1, bencode::Value("Hello World!"));
  ASSERT_TRUE(item);
  EXPECT_EQ(item->signature, kBepSig2);
  EXPECT_EQ(item->target().to_hex(), "411eba73b6f087ca51a3795d9c8c938d365e32c1");
  // The salt is signed: the same signature does not hold without it.
  EXPECT_FALSE(verify_signature(kBepPublic, kBepSig2, signature_buffer("", 1, item->value)));
}

TEST(ItemStoreBep44, Test3Immutable) {
  EXPECT_EQ(immutable_target("12:Hello World!").to_hex(),
            "e5f96f6f38320f0f33959cb4d3d656452117aadb");
  EXPECT_EQ(check_immutable("12:Hello World!"), PutCode::stored);
}

TEST(ItemStoreBep44, Rfc8032Test1AndBothSigningPathsAgree) {
  // RFC 8032, 7.1, TEST 1: the empty message.
  const KeySeed seed =
      unhex<32>("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  const SigningKey key = SigningKey::from_seed(seed);
  EXPECT_EQ(key.public_key(),
            unhex<32>("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"));
  const Signature expected = unhex<64>(
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
      "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  EXPECT_EQ(key.sign(""), expected);
  // The same key in libtorrent's expanded form signs with the scalar path.
  const SigningKey expanded = SigningKey::from_expanded(key.expanded_secret());
  EXPECT_EQ(expanded.public_key(), key.public_key());
  for (const char* message : {"", "3:seqi1e1:v12:Hello World!", "a longer message to sign"})
    EXPECT_EQ(expanded.sign(message), key.sign(message)) << message;
}

TEST(ItemStoreBep44, GeneratedKeysSignAndVerify) {
  const SigningKey a = SigningKey::generate();
  const SigningKey b = SigningKey::generate();
  EXPECT_NE(a.public_key(), b.public_key());
  const Signature sig = a.sign("hello");
  EXPECT_TRUE(verify_signature(a.public_key(), sig, "hello"));
  EXPECT_FALSE(verify_signature(b.public_key(), sig, "hello"));
  EXPECT_FALSE(verify_signature(a.public_key(), sig, "hellO"));
}

TEST(ItemStoreBep44, MutableItemChecksInOrder) {
  const SigningKey key = SigningKey::from_expanded(kBepSecret);
  auto signed_item = MutableItem::sign(key, "s", 5, bencode::Value(42));
  ASSERT_TRUE(signed_item);
  const MutableItem good = *signed_item;
  EXPECT_EQ(good.check(), PutCode::stored);

  MutableItem salty = good;  // salt over 64 bytes: 207 before anything else
  salty.salt = std::string(65, 's');
  salty.value = std::string(1001, 'x');
  EXPECT_EQ(salty.check(), PutCode::salt_too_big);
  MutableItem big = good;  // v over 1000 bytes: 205
  big.value = "1001:" + std::string(1001, 'x');
  EXPECT_EQ(big.check(), PutCode::too_big);
  MutableItem negative = good;
  negative.seq = -1;
  EXPECT_EQ(negative.check(), PutCode::protocol_error);
  MutableItem garbage = good;
  garbage.value = "i01e";  // not canonical bencode
  EXPECT_EQ(garbage.check(), PutCode::protocol_error);
  MutableItem forged = good;
  forged.seq = 6;  // the signature covers seq
  EXPECT_EQ(forged.check(), PutCode::bad_signature);
  forged = good;
  forged.signature[10] ^= 1;
  EXPECT_EQ(forged.check(), PutCode::bad_signature);
  // At the limits: a 64-byte salt and a 1000-byte v are fine.
  auto at_limits = MutableItem::sign(key, std::string(64, 's'), 0,
                                     bencode::Value(std::string(996, 'x')));  // "996:" + 996
  ASSERT_TRUE(at_limits);
  EXPECT_EQ(at_limits->value.size(), 1000u);
  EXPECT_EQ(at_limits->check(), PutCode::stored);
}

TEST(ItemStoreBep44, SigningRefusesWhatNoNodeWouldStore) {
  const SigningKey key = SigningKey::generate();
  auto salt = MutableItem::sign(key, std::string(65, 's'), 1, bencode::Value(1));
  ASSERT_FALSE(salt);
  EXPECT_TRUE(salt.error().is(ErrorKind::too_large));
  auto big = MutableItem::sign(key, "", 1, bencode::Value(std::string(997, 'x')));
  ASSERT_FALSE(big);
  EXPECT_TRUE(big.error().is(ErrorKind::too_large));
  auto negative = MutableItem::sign(key, "", -3, bencode::Value(1));
  ASSERT_FALSE(negative);
  EXPECT_TRUE(negative.error().is(ErrorKind::invalid_argument));
}

TEST(ItemStoreBep44, FromWireChecksLengths) {
  const std::string k(32, 'k');
  const std::string sig(64, 's');
  auto ok = MutableItem::from_wire(k, "salt", 3, sig, bencode::Value("v"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->value, "1:v");
  EXPECT_EQ(ok->salt, "salt");
  auto short_key = MutableItem::from_wire(k.substr(1), "", 3, sig, bencode::Value("v"));
  ASSERT_FALSE(short_key);
  EXPECT_TRUE(short_key.error().is(ErrorKind::malformed));
  auto long_sig = MutableItem::from_wire(k, "", 3, sig + "x", bencode::Value("v"));
  ASSERT_FALSE(long_sig);
  EXPECT_TRUE(long_sig.error().is(ErrorKind::malformed));
}

TEST(ItemStoreBep44, ImmutableValueChecks) {
  EXPECT_EQ(check_immutable("1001:" + std::string(1001, 'x')), PutCode::too_big);
  EXPECT_EQ(check_immutable("996:" + std::string(996, 'x')), PutCode::stored);  // 1000 bytes
  EXPECT_EQ(check_immutable("3:ab"), PutCode::protocol_error);                  // truncated
  EXPECT_EQ(check_immutable("1:a1:b"), PutCode::protocol_error);                // two values
  EXPECT_EQ(describe(PutCode::too_big), "message (v field) too big");
  EXPECT_EQ(static_cast<int>(PutCode::cas_mismatch), 301);
}

}  // namespace
}  // namespace nexo::overlay
