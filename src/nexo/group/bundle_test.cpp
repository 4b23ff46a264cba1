// Bundles (bundle.hpp): the writer's layout and limit, for_each_packet on
// bundles and bare packets, every framing error refused before any packet
// is handed out, and a Member taking a bundle's packets as if they came one
// by one.
#include "nexo/group/bundle.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nexo/group/member.hpp"

namespace nexo::group {
namespace {

Bytes data(std::uint64_t seq, std::string_view payload, std::uint64_t sender = 1) {
  Bytes out;
  EXPECT_TRUE(encode_data(out, Header{Type::data, group_tag("b"), sender, {1, 0}}, seq, 0, {},
                          as_bytes(payload)));
  return out;
}

std::vector<Bytes> split(std::span<const std::byte> datagram, ParseError& error) {
  std::vector<Bytes> out;
  error = for_each_packet(datagram, [&](std::span<const std::byte> p) {
    out.emplace_back(p.begin(), p.end());
  });
  return out;
}

TEST(GroupBundle, OnePacketGoesBareSeveralGoFramed) {
  const Bytes a = data(1, "first"), b = data(2, "second message");
  BundleWriter w(1000);
  EXPECT_TRUE(w.empty());
  w.add(a);
  EXPECT_FALSE(is_bundle(w.datagram()));
  EXPECT_TRUE(std::ranges::equal(w.datagram(), a));  // no framing for one
  ASSERT_TRUE(w.fits(b.size()));
  w.add(b);
  EXPECT_EQ(w.count(), 2u);
  const auto d = w.datagram();
  ASSERT_EQ(d.size(), kBundleHeader + 2 + a.size() + 2 + b.size());
  EXPECT_EQ(d[0], std::byte{'N'});
  EXPECT_EQ(d[1], std::byte{'B'});
  EXPECT_EQ(d[2], std::byte{kVersion});
  EXPECT_EQ(d[3], std::byte{0});
  EXPECT_EQ(std::to_integer<std::size_t>(d[4]) << 8 | std::to_integer<std::size_t>(d[5]), a.size());
  ParseError e{};
  const auto packets = split(d, e);
  EXPECT_EQ(e, ParseError::none);
  EXPECT_EQ(packets, (std::vector<Bytes>{a, b}));
  w.clear();
  EXPECT_TRUE(w.empty());
  w.add(b);
  EXPECT_TRUE(std::ranges::equal(w.datagram(), b));
}

TEST(GroupBundle, TheLimitHoldsAndABigPacketGoesAlone) {
  const Bytes small = data(1, std::string(100, 'x'));
  BundleWriter w(kBundleHeader + 3 * (2 + small.size()));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(w.fits(small.size()));
    w.add(small);
  }
  EXPECT_FALSE(w.fits(small.size()));
  EXPECT_LE(w.datagram().size(), w.limit());
  const Bytes big = data(2, std::string(5000, 'y'));
  BundleWriter alone(1000);
  EXPECT_TRUE(alone.fits(big.size()));  // empty: anything goes, bare
  alone.add(big);
  EXPECT_TRUE(std::ranges::equal(alone.datagram(), big));
  EXPECT_FALSE(alone.fits(small.size()));
  BundleWriter none(0);  // bundling off: one packet per datagram
  none.add(small);
  EXPECT_FALSE(none.fits(small.size()));
  EXPECT_EQ(BundleWriter(1 << 20).limit(), kMaxPacket);
}

TEST(GroupBundle, ABarePacketPassesThroughWhole) {
  const Bytes a = data(7, "alone");
  ParseError e{};
  EXPECT_EQ(split(a, e), std::vector<Bytes>{a});
  EXPECT_EQ(e, ParseError::none);
  // Anything that is not "NB" is the packet decoder's to judge, even garbage.
  const Bytes junk(3, std::byte{0x00});
  EXPECT_EQ(split(junk, e), std::vector<Bytes>{junk});
}

TEST(GroupBundle, BrokenFramingIsRefusedWholeBeforeAnyPacket) {
  BundleWriter w;
  const Bytes a = data(1, "a"), b = data(2, "bb");
  w.add(a);
  w.add(b);
  const Bytes good(w.datagram().begin(), w.datagram().end());
  const auto edited = [&](std::size_t at, std::uint8_t v) {
    Bytes d = good;
    d[at] = std::byte{v};
    return d;
  };
  Bytes longer = good;
  longer.push_back(std::byte{0});
  Bytes shorter = good;
  shorter.pop_back();
  Bytes tiny_entry = {kBundleMagic[0], kBundleMagic[1], std::byte{kVersion},
                      std::byte{0},    std::byte{0},    std::byte{3},
                      std::byte{1},    std::byte{2},    std::byte{3}};
  Bytes huge(kMaxPacket + 1, std::byte{0});
  huge[0] = kBundleMagic[0];
  huge[1] = kBundleMagic[1];
  huge[2] = std::byte{kVersion};
  const struct {
    const char* what;
    Bytes datagram;
    ParseError error;
  } cases[] = {
      {"header only", Bytes(good.begin(), good.begin() + 4), ParseError::too_short},
      {"over the largest datagram", huge, ParseError::too_large},
      {"version 1", edited(2, 1), ParseError::bad_version},
      {"reserved byte set", edited(3, 1), ParseError::bad_bundle},
      {"a trailing byte", longer, ParseError::bad_bundle},
      {"the last entry cut short", shorter, ParseError::bad_bundle},
      {"an entry shorter than a packet", tiny_entry, ParseError::bad_bundle},
      {"the first length too long by one", edited(5, static_cast<std::uint8_t>(a.size() + 1)),
       ParseError::bad_bundle},
      {"the first length zero", edited(5, 0), ParseError::bad_bundle},
  };
  for (const auto& c : cases) {
    ParseError e{};
    EXPECT_TRUE(split(c.datagram, e).empty()) << c.what;
    EXPECT_EQ(e, c.error) << c.what;
  }
  EXPECT_EQ(to_string(ParseError::bad_bundle), "bad_bundle");
}

TEST(GroupBundle, AMemberTakesABundlesPacketsInOrderAndCountsBadOnes) {
  auto sender = Member::create(MemberConfig{group_tag("b"), 1, {1, 0}, {1, 2}}, Time{});
  auto receiver = Member::create(MemberConfig{group_tag("b"), 2, {1, 0}, {1, 2}}, Time{});
  ASSERT_TRUE(sender && receiver);
  BundleWriter w;
  for (int i = 1; i <= 5; ++i)
    ASSERT_TRUE(sender->send(as_bytes(std::to_string(i)), Time{}));
  Bytes out;
  Destination to;
  while (sender->poll_transmit(out, to)) {
    ASSERT_TRUE(w.fits(out.size()));
    w.add(out);
  }
  ASSERT_EQ(w.count(), 5u);
  receiver->on_packet(w.datagram(), Time{});
  std::string got;
  while (auto d = receiver->poll_delivery())
    got += std::string(reinterpret_cast<const char*>(d->payload.data()), d->payload.size());
  EXPECT_EQ(got, "12345");
  Bytes broken(w.datagram().begin(), w.datagram().end());
  broken.push_back(std::byte{0});
  receiver->on_packet(broken, Time{});
  EXPECT_EQ(receiver->counters().parse_errors[static_cast<std::size_t>(ParseError::bad_bundle)], 1u);
  EXPECT_EQ(receiver->counters().duplicates, 0u);  // refused whole: nothing taken in twice
}

}  // namespace
}  // namespace nexo::group
