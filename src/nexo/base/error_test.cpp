#include "nexo/base/error.hpp"

#include <gtest/gtest.h>

#include <cerrno>

namespace nexo {
namespace {

TEST(Error, FromErrnoMapsKindAndNamesOperation) {
  Error e = Error::from_errno(ECONNREFUSED, "connect 127.0.0.1:7896");
  EXPECT_EQ(e.kind(), ErrorKind::refused);
  EXPECT_EQ(e.sys_errno(), ECONNREFUSED);
  EXPECT_EQ(e.message(), "connect 127.0.0.1:7896: Connection refused");
  EXPECT_EQ(e.to_string(), "[refused] connect 127.0.0.1:7896: Connection refused");
}

TEST(Error, KindsFromErrno) {
  EXPECT_EQ(kind_from_errno(ETIMEDOUT), ErrorKind::timed_out);
  EXPECT_EQ(kind_from_errno(ECONNRESET), ErrorKind::reset);
  EXPECT_EQ(kind_from_errno(EPIPE), ErrorKind::closed);
  EXPECT_EQ(kind_from_errno(EHOSTUNREACH), ErrorKind::unreachable);
  EXPECT_EQ(kind_from_errno(EADDRINUSE), ErrorKind::address_in_use);
  EXPECT_EQ(kind_from_errno(EAGAIN), ErrorKind::would_block);
  EXPECT_EQ(kind_from_errno(EMSGSIZE), ErrorKind::too_large);
  EXPECT_EQ(kind_from_errno(EIO), ErrorKind::system);
}

TEST(Error, ContextGrowsOutward) {
  Error e(ErrorKind::timed_out, "receive on 0.0.0.0:6789: no datagram within 100 ms");
  e.with_context("udp echo");
  EXPECT_EQ(e.message(), "udp echo: receive on 0.0.0.0:6789: no datagram within 100 ms");
  const Error c = e;
  EXPECT_EQ(c.with_context("tour").message(), "tour: " + e.message());
  EXPECT_EQ(e.sys_errno(), 0);
}

TEST(Error, EveryKindHasAName) {
  for (int k = 0; k <= static_cast<int>(ErrorKind::system); ++k) {
    EXPECT_NE(to_string(static_cast<ErrorKind>(k)), "unknown") << k;
  }
}

}  // namespace
}  // namespace nexo
