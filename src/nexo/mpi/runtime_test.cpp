// The runtime through the C API: N ranks as forked processes on one shared segment, each
// running a function of the test that exits 0 when every check held. A tiny launcher stands in
// for nexorun (the segment, the environment, the exit statuses, a hang guard).
#include <gtest/gtest.h>
#include <mpi.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "nexo/mpi/runtime_test_ranks.hpp"

namespace nexo::mpi {
namespace {

using testing::expect_all_zero;
using testing::run_ranks;

unsigned char pattern(std::size_t i, int seed) {
  return static_cast<unsigned char>((i * 131 + static_cast<std::size_t>(seed) * 7) & 0xff);
}

TEST(MpiRuntime, MessagesOfEverySizeArriveWhole) {
  // Eager, at the eager limit, rendezvous through a pull, and far larger than a ring.
  const std::vector<int> sizes = {0, 1, 40, 32 * 1024, 32 * 1024 + 1, 1 << 20, 20 << 20};
  expect_all_zero(run_ranks(2, [&](int rank, int) {
    for (int k = 0; k < static_cast<int>(sizes.size()); ++k) {
      const auto n = static_cast<std::size_t>(sizes[static_cast<std::size_t>(k)]);
      std::vector<unsigned char> data(n);
      if (rank == 0) {
        for (std::size_t i = 0; i < n; ++i)
          data[i] = pattern(i, k);
        RANK_CHECK(MPI_Send(data.data(), static_cast<int>(n), MPI_BYTE, 1, k, MPI_COMM_WORLD) ==
                   MPI_SUCCESS);
      } else {
        MPI_Status status;
        RANK_CHECK(MPI_Recv(data.data(), static_cast<int>(n), MPI_BYTE, 0, k, MPI_COMM_WORLD,
                            &status) == MPI_SUCCESS);
        int count = -1;
        MPI_Get_count(&status, MPI_BYTE, &count);
        RANK_CHECK(count == static_cast<int>(n) && status.MPI_SOURCE == 0 && status.MPI_TAG == k);
        for (std::size_t i = 0; i < n; ++i)
          RANK_CHECK(data[i] == pattern(i, k));
      }
    }
  }));
}

TEST(MpiRuntime, AnySourceReceivesEveryRanksMessagesInOrder) {
  expect_all_zero(run_ranks(4, [](int rank, int size) {
    constexpr int kPerRank = 200;
    if (rank != 0) {
      for (int i = 0; i < kPerRank; ++i)
        RANK_CHECK(MPI_Send(&i, 1, MPI_INT, 0, 5, MPI_COMM_WORLD) == MPI_SUCCESS);
      return;
    }
    std::vector<int> next(static_cast<std::size_t>(size), 0);
    for (int k = 0; k < kPerRank * (size - 1); ++k) {
      int value = -1;
      MPI_Status status;
      RANK_CHECK(MPI_Recv(&value, 1, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD,
                          &status) == MPI_SUCCESS);
      RANK_CHECK(status.MPI_TAG == 5);
      RANK_CHECK(value == next[static_cast<std::size_t>(status.MPI_SOURCE)]++);
    }
  }));
}

TEST(MpiRuntime, NonblockingExchangeWithEveryRankAndSelf) {
  expect_all_zero(run_ranks(3, [](int rank, int size) {
    std::vector<int> in(static_cast<std::size_t>(size) * 1000, -1);
    std::vector<int> out(1000);
    for (int i = 0; i < 1000; ++i)
      out[static_cast<std::size_t>(i)] = rank * 100000 + i;
    std::vector<MPI_Request> requests;
    for (int r = 0; r < size; ++r) {
      MPI_Request q;
      RANK_CHECK(MPI_Irecv(&in[static_cast<std::size_t>(r) * 1000], 1000, MPI_INT, r, 1,
                           MPI_COMM_WORLD, &q) == MPI_SUCCESS);
      requests.push_back(q);
    }
    for (int r = size - 1; r >= 0; --r) {
      MPI_Request q;
      RANK_CHECK(MPI_Isend(out.data(), 1000, MPI_INT, r, 1, MPI_COMM_WORLD, &q) == MPI_SUCCESS);
      requests.push_back(q);
    }
    RANK_CHECK(MPI_Waitall(static_cast<int>(requests.size()), requests.data(),
                           MPI_STATUSES_IGNORE) == MPI_SUCCESS);
    for (int r = 0; r < size; ++r)
      for (int i = 0; i < 1000; ++i)
        RANK_CHECK(in[static_cast<std::size_t>(r * 1000 + i)] == r * 100000 + i);
  }));
}

TEST(MpiRuntime, SplitCommunicatorsKeepTheirTrafficApart) {
  expect_all_zero(run_ranks(4, [](int rank, int) {
    MPI_Comm half = MPI_COMM_NULL;
    MPI_Comm dup = MPI_COMM_NULL;
    RANK_CHECK(MPI_Comm_split(MPI_COMM_WORLD, rank % 2, -rank, &half) == MPI_SUCCESS);
    RANK_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &dup) == MPI_SUCCESS);
    int hrank = -1;
    int hsize = -1;
    MPI_Comm_rank(half, &hrank);
    MPI_Comm_size(half, &hsize);
    RANK_CHECK(hsize == 2);
    RANK_CHECK(hrank == (rank < 2 ? 1 : 0));  // key -rank: the higher world rank comes first
    // Same tag on world, dup and half: each receive gets its own communicator's message.
    const int world_peer = rank ^ 1;
    int a = rank;
    int b = rank + 10;
    int c = rank + 20;
    MPI_Request q[6];
    int ra = -1;
    int rb = -1;
    int rc = -1;
    MPI_Irecv(&rc, 1, MPI_INT, 1 - hrank, 7, half, &q[0]);
    MPI_Irecv(&rb, 1, MPI_INT, world_peer, 7, dup, &q[1]);
    MPI_Irecv(&ra, 1, MPI_INT, world_peer, 7, MPI_COMM_WORLD, &q[2]);
    MPI_Isend(&a, 1, MPI_INT, world_peer, 7, MPI_COMM_WORLD, &q[3]);
    MPI_Isend(&b, 1, MPI_INT, world_peer, 7, dup, &q[4]);
    MPI_Isend(&c, 1, MPI_INT, 1 - hrank, 7, half, &q[5]);
    RANK_CHECK(MPI_Waitall(6, q, MPI_STATUSES_IGNORE) == MPI_SUCCESS);
    RANK_CHECK(ra == world_peer && rb == world_peer + 10);
    RANK_CHECK(rc == (rank + 2) % 4 + 20);  // half: ranks {0, 2} and {1, 3}
    RANK_CHECK(MPI_Comm_free(&half) == MPI_SUCCESS && half == MPI_COMM_NULL);
    RANK_CHECK(MPI_Comm_free(&dup) == MPI_SUCCESS);
  }));
}

TEST(MpiRuntime, SynchronousBufferedAndDerivedTypeSends) {
  expect_all_zero(run_ranks(2, [](int rank, int) {
    // Bsend completes with no receive posted; the receiver posts only after a second message.
    std::vector<char> attached(1 << 16);
    RANK_CHECK(MPI_Buffer_attach(attached.data(), static_cast<int>(attached.size())) ==
               MPI_SUCCESS);
    int token = 0;
    if (rank == 0) {
      int v = 42;
      RANK_CHECK(MPI_Bsend(&v, 1, MPI_INT, 1, 1, MPI_COMM_WORLD) == MPI_SUCCESS);
      RANK_CHECK(MPI_Send(&token, 1, MPI_INT, 1, 2, MPI_COMM_WORLD) == MPI_SUCCESS);
      // Issend is not complete before rank 1 posts its receive, which it does after our token.
      MPI_Request q;
      int s = 9;
      RANK_CHECK(MPI_Issend(&s, 1, MPI_INT, 1, 3, MPI_COMM_WORLD, &q) == MPI_SUCCESS);
      int done = 1;
      for (int i = 0; i < 50; ++i)
        MPI_Test(&q, &done, MPI_STATUS_IGNORE);
      RANK_CHECK(done == 0);
      RANK_CHECK(MPI_Send(&token, 1, MPI_INT, 1, 4, MPI_COMM_WORLD) == MPI_SUCCESS);
      RANK_CHECK(MPI_Wait(&q, MPI_STATUS_IGNORE) == MPI_SUCCESS);
      // A vector type: every other int of 10.
      MPI_Datatype every_other;
      MPI_Type_vector(5, 1, 2, MPI_INT, &every_other);
      MPI_Type_commit(&every_other);
      int ten[10];
      for (int i = 0; i < 10; ++i)
        ten[i] = i;
      RANK_CHECK(MPI_Send(ten, 1, every_other, 1, 5, MPI_COMM_WORLD) == MPI_SUCCESS);
      MPI_Type_free(&every_other);
    } else {
      RANK_CHECK(MPI_Recv(&token, 1, MPI_INT, 0, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE) ==
                 MPI_SUCCESS);
      int v = 0;
      RANK_CHECK(MPI_Recv(&v, 1, MPI_INT, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE) == MPI_SUCCESS);
      RANK_CHECK(v == 42);
      RANK_CHECK(MPI_Recv(&token, 1, MPI_INT, 0, 4, MPI_COMM_WORLD, MPI_STATUS_IGNORE) ==
                 MPI_SUCCESS);
      int s = 0;
      RANK_CHECK(MPI_Recv(&s, 1, MPI_INT, 0, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE) == MPI_SUCCESS);
      RANK_CHECK(s == 9);
      MPI_Datatype pairs;  // receive the 5 ints into slots 0, 3, 6, 9, 12 of 15
      MPI_Type_vector(5, 1, 3, MPI_INT, &pairs);
      MPI_Type_commit(&pairs);
      int fifteen[15];
      for (int& x : fifteen)
        x = -1;
      MPI_Status status;
      RANK_CHECK(MPI_Recv(fifteen, 1, pairs, 0, 5, MPI_COMM_WORLD, &status) == MPI_SUCCESS);
      for (int i = 0; i < 15; ++i)
        RANK_CHECK(fifteen[i] == (i % 3 == 0 ? 2 * (i / 3) : -1));
      int count = 0;
      MPI_Get_count(&status, MPI_INT, &count);
      RANK_CHECK(count == 5);
      MPI_Type_free(&pairs);
    }
    void* detached = nullptr;
    int size = 0;
    RANK_CHECK(MPI_Buffer_detach(&detached, &size) == MPI_SUCCESS);
    RANK_CHECK(detached == attached.data() && size == static_cast<int>(attached.size()));
  }));
}

TEST(MpiRuntime, ErrorsReturnedAndTruncation) {
  expect_all_zero(run_ranks(2, [](int rank, int) {
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int x = 0;
    RANK_CHECK(MPI_Send(&x, 1, MPI_INT, 5, 0, MPI_COMM_WORLD) == MPI_ERR_RANK);
    RANK_CHECK(MPI_Send(&x, 1, MPI_INT, 0, -3, MPI_COMM_WORLD) == MPI_ERR_TAG);
    RANK_CHECK(MPI_Send(&x, -1, MPI_INT, 0, 0, MPI_COMM_WORLD) == MPI_ERR_COUNT);
    RANK_CHECK(MPI_Send(&x, 1, MPI_DATATYPE_NULL, 0, 0, MPI_COMM_WORLD) == MPI_ERR_TYPE);
    RANK_CHECK(MPI_Send(&x, 1, MPI_INT, 0, 0, MPI_COMM_NULL) == MPI_ERR_COMM);
    if (rank == 0) {
      int two[2] = {1, 2};
      RANK_CHECK(MPI_Send(two, 2, MPI_INT, 1, 0, MPI_COMM_WORLD) == MPI_SUCCESS);
    } else {
      int one = 0;
      MPI_Status status;
      RANK_CHECK(MPI_Recv(&one, 1, MPI_INT, 0, 0, MPI_COMM_WORLD, &status) == MPI_ERR_TRUNCATE);
      RANK_CHECK(one == 1);
    }
    // Probe, then receive what it announced; cancel a receive nobody sends to.
    if (rank == 1) {
      int v = 77;
      MPI_Send(&v, 1, MPI_INT, 0, 9, MPI_COMM_WORLD);
    } else {
      MPI_Status status;
      RANK_CHECK(MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &status) == MPI_SUCCESS);
      RANK_CHECK(status.MPI_SOURCE == 1 && status.MPI_TAG == 9);
      int v = 0;
      MPI_Recv(&v, 1, MPI_INT, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD, &status);
      RANK_CHECK(v == 77);
    }
    MPI_Request q;
    int never = 0;
    MPI_Irecv(&never, 1, MPI_INT, MPI_ANY_SOURCE, 12345, MPI_COMM_WORLD, &q);
    MPI_Cancel(&q);
    MPI_Status status;
    RANK_CHECK(MPI_Wait(&q, &status) == MPI_SUCCESS);
    int cancelled = 0;
    MPI_Test_cancelled(&status, &cancelled);
    RANK_CHECK(cancelled == 1);
  }));
}

TEST(MpiRuntime, AFatalErrorEndsTheRankWithTheErrorClass) {
  const auto statuses = run_ranks(1, [](int, int) {
    int x = 0;
    MPI_Send(&x, 1, MPI_INT, 3, 0, MPI_COMM_WORLD);  // MPI_ERRORS_ARE_FATAL: does not return
    ::_exit(0);
  });
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(statuses[0], MPI_ERR_RANK);
}

TEST(MpiRuntime, FourRanksRingAroundManyTimes) {
  // More ranks than cores: a rank that waits must sleep, not spin, or this crawls.
  expect_all_zero(run_ranks(4, [](int rank, int size) {
    int token = 0;
    for (int lap = 0; lap < 500; ++lap) {
      if (rank == 0) {
        token = lap;
        MPI_Send(&token, 1, MPI_INT, 1, 0, MPI_COMM_WORLD);
        MPI_Recv(&token, 1, MPI_INT, size - 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        RANK_CHECK(token == lap + size - 1);
      } else {
        MPI_Recv(&token, 1, MPI_INT, rank - 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        ++token;
        MPI_Send(&token, 1, MPI_INT, (rank + 1) % size, 0, MPI_COMM_WORLD);
      }
    }
  }));
}

}  // namespace
}  // namespace nexo::mpi

namespace nexo::mpi {
namespace {

TEST(MpiRuntime, ReductionsOnDerivedTypesLeaveTheHolesAlone) {
  testing::expect_all_zero(testing::run_ranks(3, [](int rank, int size) {
    // Every other int of 8: the reduction writes slots 0, 2, 4, 6 and never the others.
    MPI_Datatype every_other;
    MPI_Type_vector(4, 1, 2, MPI_INT, &every_other);
    MPI_Type_commit(&every_other);
    int in[8];
    int out[8];
    for (int i = 0; i < 8; ++i) {
      in[i] = (rank + 1) * (i + 1);
      out[i] = -100 - i;
    }
    RANK_CHECK(MPI_Allreduce(in, out, 1, every_other, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS);
    const int ranks_sum = size * (size + 1) / 2;
    for (int i = 0; i < 8; ++i)
      RANK_CHECK(out[i] == (i % 2 == 0 ? ranks_sum * (i + 1) : -100 - i));
    // In place, at the root of a reduce, with a user op (max) through the same layout.
    int mine[8];
    for (int i = 0; i < 8; ++i)
      mine[i] = rank == 0 ? -1 : rank * 10 + i;
    RANK_CHECK(MPI_Reduce(rank == 0 ? static_cast<const void*>(MPI_IN_PLACE) : mine, mine, 1,
                          every_other, MPI_MAX, 0, MPI_COMM_WORLD) == MPI_SUCCESS);
    if (rank == 0) {
      for (int i = 0; i < 8; ++i)
        RANK_CHECK(mine[i] == (i % 2 == 0 ? (size > 1 ? (size - 1) * 10 + i : -1) : -1));
    }
    MPI_Type_free(&every_other);
  }));
}

}  // namespace
}  // namespace nexo::mpi
