// What a test does when this machine lacks something it needs (root, a tool,
// descriptors): it skips, with the reason, except in CI (CI=true), which has
// everything: there a missing prerequisite is a failure, not a quiet pass.
// .ci/run also fails on any test that ctest reports as skipped.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string_view>

namespace nexo::testing {

// True under CI=true (as CI systems set it).
inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

}  // namespace nexo::testing

// In a test body or SetUp(): skips with `reason` (anything streamable), or
// under CI=true fails with it. Returns from the function either way.
#define NEXO_SKIP_OR_FAIL(reason)                                  \
  do {                                                             \
    if (::nexo::testing::in_ci())                                  \
      GTEST_FAIL() << "CI=true, so this must run, but: " << reason; \
    GTEST_SKIP() << reason;                                        \
  } while (false)
