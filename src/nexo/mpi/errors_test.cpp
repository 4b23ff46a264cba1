#include "nexo/mpi/errors.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>

namespace nexo::mpi {
namespace {

TEST(MpiErrors, EveryClassHasItsOwnShortString) {
  const int named[] = {MPI_SUCCESS,       MPI_ERR_BUFFER,   MPI_ERR_COUNT, MPI_ERR_TYPE,
                       MPI_ERR_TAG,       MPI_ERR_COMM,     MPI_ERR_RANK,  MPI_ERR_REQUEST,
                       MPI_ERR_ROOT,      MPI_ERR_GROUP,    MPI_ERR_OP,    MPI_ERR_ARG,
                       MPI_ERR_UNKNOWN,   MPI_ERR_TRUNCATE, MPI_ERR_OTHER, MPI_ERR_INTERN,
                       MPI_ERR_IN_STATUS, MPI_ERR_PENDING,  MPI_ERR_NO_MEM};
  EXPECT_EQ(std::size(named), static_cast<std::size_t>(MPI_ERR_LASTCODE + 1));
  std::set<int> values(std::begin(named), std::end(named));
  EXPECT_EQ(values.size(), std::size(named));  // distinct
  std::set<std::string> texts;
  for (int code = MPI_SUCCESS; code <= MPI_ERR_LASTCODE; ++code) {
    SCOPED_TRACE(code);
    int cls = -1;
    ASSERT_EQ(MPI_Error_class(code, &cls), MPI_SUCCESS);
    EXPECT_EQ(cls, code);
    char text[MPI_MAX_ERROR_STRING];
    std::memset(text, 'x', sizeof text);
    int len = -1;
    ASSERT_EQ(MPI_Error_string(code, text, &len), MPI_SUCCESS);
    EXPECT_GT(len, 10);
    EXPECT_LT(len, MPI_MAX_ERROR_STRING);
    EXPECT_EQ(std::strlen(text), static_cast<std::size_t>(len));
    EXPECT_EQ(std::string(text).rfind("MPI_", 0), 0u);  // names its class first
    texts.insert(text);
  }
  EXPECT_EQ(texts.size(), static_cast<std::size_t>(MPI_ERR_LASTCODE + 1));
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  ASSERT_EQ(MPI_Error_string(MPI_ERR_TRUNCATE, text, &len), MPI_SUCCESS);
  EXPECT_NE(std::strstr(text, "truncated"), nullptr);
}

TEST(MpiErrors, InvalidCodes) {
  int cls = 0;
  EXPECT_EQ(MPI_Error_class(-1, &cls), MPI_ERR_ARG);
  EXPECT_EQ(MPI_Error_class(MPI_ERR_LASTCODE + 1, &cls), MPI_ERR_ARG);
  EXPECT_EQ(MPI_Error_class(MPI_SUCCESS, nullptr), MPI_ERR_ARG);
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  EXPECT_EQ(MPI_Error_string(12345, text, &len), MPI_ERR_ARG);
  EXPECT_STREQ(text, "invalid error code 12345");  // still a string to print
  EXPECT_EQ(MPI_Error_string(MPI_SUCCESS, nullptr, &len), MPI_ERR_ARG);
  EXPECT_EQ(MPI_Error_string(MPI_SUCCESS, text, nullptr), MPI_ERR_ARG);
}

struct Raised {
  int code = 0;
  std::string function, why;
};
Raised g_raised;

int record(int code, const char* function, const char* why) {
  g_raised = {code, function, why};
  return code;
}

TEST(MpiErrors, HookSeesEveryError) {
  set_error_hook(record);
  MPI_Datatype predefined = MPI_INT;
  EXPECT_EQ(MPI_Type_free(&predefined), MPI_ERR_TYPE);
  EXPECT_EQ(g_raised.code, MPI_ERR_TYPE);
  EXPECT_EQ(g_raised.function, "MPI_Type_free");
  EXPECT_EQ(g_raised.why, "a predefined datatype cannot be freed");
  set_error_hook(nullptr);
  g_raised = {};
  EXPECT_EQ(MPI_Type_free(&predefined), MPI_ERR_TYPE);
  EXPECT_EQ(g_raised.code, 0);
}

TEST(MpiErrors, VersionAndClock) {
  int version = 0, subversion = 0;
  ASSERT_EQ(MPI_Get_version(&version, &subversion), MPI_SUCCESS);
  EXPECT_EQ(version, 3);
  EXPECT_EQ(subversion, 1);
  EXPECT_EQ(MPI_Get_version(nullptr, &subversion), MPI_ERR_ARG);
  double t0 = MPI_Wtime();
  double t1 = MPI_Wtime();
  EXPECT_GT(t0, 0.0);
  EXPECT_GE(t1, t0);  // monotonic
  EXPECT_GT(MPI_Wtick(), 0.0);
  EXPECT_LE(MPI_Wtick(), 1e-3);
}

TEST(MpiErrors, Errhandlers) {
  EXPECT_NE(MPI_ERRORS_ARE_FATAL, MPI_ERRORS_RETURN);
  EXPECT_TRUE(MPI_ERRORS_ARE_FATAL->fatal);
  EXPECT_FALSE(MPI_ERRORS_RETURN->fatal);
  EXPECT_TRUE(is_errhandler(MPI_ERRORS_RETURN));
  EXPECT_TRUE(is_errhandler(MPI_ERRORS_ARE_FATAL));
  EXPECT_FALSE(is_errhandler(MPI_ERRHANDLER_NULL));
}

}  // namespace
}  // namespace nexo::mpi
