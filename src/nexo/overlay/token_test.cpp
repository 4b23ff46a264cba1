// Write tokens: lifetime across rotations, bound to the address (not the port)
// and to the target. Fake time: a fixed origin plus durations.
#include "nexo/overlay/token.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace nexo::overlay {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

const Time t0{std::chrono::hours(1000)};

net::InetAddress ip(const char* text) {
  return *net::InetAddress::parse(text);
}

NodeId target(std::uint8_t fill) {
  NodeId::Bytes b{};
  b.fill(fill);
  return NodeId(b);
}

TEST(Token, IsFourBytesOnTheWire) {
  fault::Random rng(1);
  WriteTokens tokens(rng, t0);
  const WriteToken t = tokens.issue(ip("192.0.2.1"), target(1), t0);
  EXPECT_EQ(t.to_byte_string().size(), kTokenBytes);
  EXPECT_EQ(kTokenBytes, 4u);
  EXPECT_TRUE(tokens.verify(t.to_byte_string(), ip("192.0.2.1"), target(1), t0));
}

TEST(Token, ValidAcrossOneRotationInvalidAfterTwo) {
  fault::Random rng(2);
  WriteTokens tokens(rng, t0);
  const std::string t = tokens.issue(ip("192.0.2.1"), target(1), t0).to_byte_string();
  EXPECT_TRUE(tokens.verify(t, ip("192.0.2.1"), target(1), t0 + minutes(4)));
  EXPECT_TRUE(tokens.verify(t, ip("192.0.2.1"), target(1), t0 + minutes(5)));  // one rotation
  EXPECT_TRUE(tokens.verify(t, ip("192.0.2.1"), target(1), t0 + minutes(9) + seconds(59)));
  EXPECT_FALSE(tokens.verify(t, ip("192.0.2.1"), target(1), t0 + minutes(10)));  // two
  // A fresh token is good again, under the new secret.
  const std::string fresh =
      tokens.issue(ip("192.0.2.1"), target(1), t0 + minutes(10)).to_byte_string();
  EXPECT_TRUE(tokens.verify(fresh, ip("192.0.2.1"), target(1), t0 + minutes(10)));
}

TEST(Token, IssuedJustBeforeARotationLivesAtLeastFiveMinutes) {
  fault::Random rng(3);
  WriteTokens tokens(rng, t0);
  const Time issued = t0 + minutes(4) + seconds(59);
  const std::string t = tokens.issue(ip("192.0.2.1"), target(1), issued).to_byte_string();
  EXPECT_TRUE(tokens.verify(t, ip("192.0.2.1"), target(1), issued + minutes(5)));
  EXPECT_FALSE(tokens.verify(t, ip("192.0.2.1"), target(1), t0 + minutes(10)));
}

TEST(Token, AJumpOverTwoRotationsReplacesBothSecrets) {
  fault::Random rng(4);
  WriteTokens tokens(rng, t0);
  const std::string t = tokens.issue(ip("192.0.2.1"), target(1), t0).to_byte_string();
  // No call in between: the first call at +1 h must not see the token as one
  // rotation old.
  EXPECT_FALSE(tokens.verify(t, ip("192.0.2.1"), target(1), t0 + std::chrono::hours(1)));
}

TEST(Token, BoundToTheAddressNotThePort) {
  fault::Random rng(5);
  WriteTokens tokens(rng, t0);
  const std::string t = tokens.issue(ip("192.0.2.1"), target(1), t0).to_byte_string();
  // The port is not an input at all; another address is refused, and so is
  // the same bits read as another family.
  EXPECT_FALSE(tokens.verify(t, ip("192.0.2.2"), target(1), t0));
  EXPECT_FALSE(tokens.verify(t, ip("2001:db8::1"), target(1), t0));
  // An IPv4-mapped IPv6 address is the IPv4 address (a dual-stack socket).
  EXPECT_TRUE(tokens.verify(t, ip("::ffff:192.0.2.1"), target(1), t0));

  const std::string t6 = tokens.issue(ip("2001:db8::1"), target(1), t0).to_byte_string();
  EXPECT_TRUE(tokens.verify(t6, ip("2001:db8::1"), target(1), t0));
  EXPECT_FALSE(tokens.verify(t6, ip("2001:db8::2"), target(1), t0));
}

TEST(Token, BoundToTheTarget) {
  fault::Random rng(6);
  WriteTokens tokens(rng, t0);
  const std::string t = tokens.issue(ip("192.0.2.1"), target(1), t0).to_byte_string();
  EXPECT_FALSE(tokens.verify(t, ip("192.0.2.1"), target(2), t0));
}

TEST(Token, ForeignTokensAndOtherLengthsAreRefused) {
  fault::Random rng(7);
  WriteTokens tokens(rng, t0);
  fault::Random other_rng(8);
  WriteTokens other(other_rng, t0);
  const std::string theirs = other.issue(ip("192.0.2.1"), target(1), t0).to_byte_string();
  EXPECT_FALSE(tokens.verify(theirs, ip("192.0.2.1"), target(1), t0));
  const std::string ours = tokens.issue(ip("192.0.2.1"), target(1), t0).to_byte_string();
  EXPECT_FALSE(tokens.verify("", ip("192.0.2.1"), target(1), t0));
  EXPECT_FALSE(tokens.verify(ours + "x", ip("192.0.2.1"), target(1), t0));
  EXPECT_FALSE(tokens.verify(ours.substr(0, 3), ip("192.0.2.1"), target(1), t0));
}

TEST(Token, ABackwardClockRotatesNothing) {
  fault::Random rng(9);
  WriteTokens tokens(rng, t0 + minutes(30));
  const std::string t = tokens.issue(ip("192.0.2.1"), target(1), t0 + minutes(30)).to_byte_string();
  EXPECT_TRUE(tokens.verify(t, ip("192.0.2.1"), target(1), t0));
}

TEST(Token, IsSmall) {
  EXPECT_LE(sizeof(WriteTokens), 48u);
}

}  // namespace
}  // namespace nexo::overlay
