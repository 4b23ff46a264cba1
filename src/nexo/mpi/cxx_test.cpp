// The C++ facade over the runtime: typed and marshalled messages, RAII requests and
// communicators, collectives on values, errors as exceptions. Ranks are forked processes.
#include "nexo/mpi/cxx.hpp"

#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "nexo/mpi/runtime_test_ranks.hpp"
#include "nexo/wire/describe.hpp"

namespace cxxtest {

// Not trivially copyable: travels marshalled (CDR).
struct Order {
  std::string customer;
  std::vector<std::int32_t> items;
  std::map<std::string, double> prices;
  std::optional<std::string> note;
};
constexpr auto nexo_wire_describe(const Order*) {
  return nexo::wire::describe<Order>("Order")
      .field("customer", &Order::customer)
      .field("items", &Order::items)
      .field("prices", &Order::prices)
      .field("note", &Order::note);
}

struct Point {  // trivially copyable: travels as its bytes
  double x;
  double y;
};

}  // namespace cxxtest

namespace nexo::mpi {
namespace {

using testing::expect_all_zero;
using testing::run_ranks;
namespace mx = nexo::mpi::cxx;

TEST(MpiCxx, TypedAndMarshalledMessages) {
  expect_all_zero(run_ranks(2, [](int rank, int) {
    auto world = mx::Communicator::world();
    if (rank == 0) {
      world.send(cxxtest::Point{1.5, -2.0}, 1, 1);
      world.send(std::vector<double>{1, 2, 3, 4}, 1, 2);
      world.send(std::string("hello, rank 1"), 1, 3);
      cxxtest::Order order{"Ada", {3, 1, 4}, {{"tea", 2.5}, {"cake", 4.0}}, "fragile"};
      world.send(order, 1, 4);
      auto request = world.isend(cxxtest::Order{"Bob", {}, {}, std::nullopt}, 1, 5);
      request.wait();
    } else {
      const auto p = world.recv<cxxtest::Point>(0, 1);
      RANK_CHECK(p.x == 1.5 && p.y == -2.0);
      mx::Status status;
      const auto v = world.recv<std::vector<double>>(0, 2, &status);
      RANK_CHECK((v == std::vector<double>{1, 2, 3, 4}) && status.bytes == 32 && status.tag == 2);
      RANK_CHECK(world.recv<std::string>(0, 3) == "hello, rank 1");
      const auto order = world.recv<cxxtest::Order>(MPI_ANY_SOURCE, 4);
      RANK_CHECK(order.customer == "Ada" && (order.items == std::vector<std::int32_t>{3, 1, 4}));
      RANK_CHECK(order.prices.at("cake") == 4.0 && order.note == "fragile");
      const auto second = world.recv<cxxtest::Order>(0, 5);
      RANK_CHECK(second.customer == "Bob" && !second.note.has_value());
    }
  }));
}

TEST(MpiCxx, CollectivesOnValuesAndSplitCommunicators) {
  expect_all_zero(run_ranks(3, [](int rank, int size) {
    auto world = mx::Communicator::world();
    RANK_CHECK(world.allreduce(rank + 1, MPI_SUM) == size * (size + 1) / 2);
    RANK_CHECK(world.scan(rank + 1, MPI_SUM) == (rank + 1) * (rank + 2) / 2);
    const auto sum = world.reduce(2.0, MPI_SUM, 0);
    RANK_CHECK(rank == 0 ? sum.has_value() && *sum == 2.0 * size : !sum.has_value());
    const auto all = world.allgather(rank * 10);
    for (int r = 0; r < size; ++r)
      RANK_CHECK(all[static_cast<std::size_t>(r)] == r * 10);
    std::vector<int> data;
    if (rank == 1) data = {7, 8, 9};
    world.bcast(data, 1);
    RANK_CHECK((data == std::vector<int>{7, 8, 9}));
    {
      auto evens = world.split(rank % 2 == 0 ? 0 : MPI_UNDEFINED, rank);
      RANK_CHECK(static_cast<bool>(evens) == (rank % 2 == 0));
      if (evens) RANK_CHECK(evens.size() == 2 && evens.allreduce(1, MPI_SUM) == 2);
    }  // freed here
    auto copy = world.dup();
    copy.barrier();
  }));
}

TEST(MpiCxx, ErrorsThrowAndRequestsCompleteOnDestruction) {
  expect_all_zero(run_ranks(2, [](int rank, int) {
    auto world = mx::Communicator::world();
    bool threw = false;
    try {
      world.send(1, 9, 0);  // no rank 9
    } catch (const mx::Error& e) {
      threw = e.code() == MPI_ERR_RANK && std::string(e.what()).find("MPI_Send") == 0;
    }
    RANK_CHECK(threw);
    std::vector<int> in(1000, -1);
    std::vector<int> out(1000);
    std::iota(out.begin(), out.end(), rank * 1000);
    {
      auto r = world.irecv(std::span<int>(in), 1 - rank, 0);
      auto s = world.isend(std::span<const int>(out), 1 - rank, 0);
    }  // both waited for by their destructors
    for (int i = 0; i < 1000; ++i)
      RANK_CHECK(in[static_cast<std::size_t>(i)] == (1 - rank) * 1000 + i);
  }));
}

}  // namespace
}  // namespace nexo::mpi
