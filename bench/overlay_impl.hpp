// What bench_overlay asks of each DHT it measures (overlay_bench.cpp runs the
// procedure; overlay_opendht.cpp and overlay_nexo.cpp provide it): start N
// nodes on 127.0.0.1, bootstrap them into one overlay, put, get, crash some,
// and count datagrams. Both impls get the same calls in the same order, so
// the procedure and its figures are the harness's, not the impl's.
//
// Lifecycle: make() -> start() -> settled() polled -> put()/get() from
// several threads -> crash() -> get() -> stop(). An Impl object runs one
// round; the harness makes a new one for the next round.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "harness.hpp"
#include "nexo/base/result.hpp"

namespace nexo::bench::overlay {

// A DHT key: 160 bits, as both the Mainline DHT and OpenDHT use.
using Key = std::array<std::uint8_t, 20>;
using Bytes = std::vector<std::uint8_t>;

// Datagrams sent and received over UDP by every node of an impl since its
// start (crashed nodes up to their crash): what the impl's sockets did, not
// what its protocol thinks it did.
struct Datagrams {
  std::uint64_t sent = 0, received = 0;
};

// Where a get ends (--get-ends-at): at the first value that reaches the
// caller (an immutable item's value is final: its key is its hash), or when
// the impl says the lookup is done (the whole iterative lookup, dead contacts'
// timeouts included).
enum class GetEnd { first_value, lookup_done };

// The outcome of one get.
struct GetOutcome {
  std::optional<Bytes> value;  // the first value that reached the caller; nullopt: none did
  Clock::duration elapsed{};   // the call to where the get ended (GetEnd), or to the deadline
  bool timed_out = false;      // the deadline passed first
};

// The impl's own answer to "has the overlay settled?".
struct Settled {
  bool settled = false;
  std::string detail;  // what it looked at: "connected 50/50, good contacts min 9 median 21"
};

class Impl {
 public:
  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  virtual ~Impl() = default;  // stops what stop() has not

  // Starts `nodes` nodes on 127.0.0.1, each on a UDP port of its own (port 0,
  // read back), and bootstraps every node i > 0 from node 0. Returns once
  // every node runs; settling is settled()'s. Fails naming the node that did
  // not start (the ones started are stopped by stop() or the destructor).
  virtual Result<void> start(int nodes) = 0;

  // Polled by the harness until it says settled (or the harness's deadline).
  virtual Settled settled() = 0;

  // Stores `value` from node `node`; its key once the impl reports the store
  // done. Fails when the impl reports a failure or `deadline` passes.
  // Thread-safe: several threads put and get at once.
  virtual Result<Key> put(int node, std::span<const std::uint8_t> value,
                          Clock::time_point deadline) = 0;

  // Looks `key` up from node `node`: the first value that reaches the
  // caller, timed to where `end` says the get ends (GetEnd::first_value: the
  // get stops at that value; with none, at the impl's "done"). Ends at
  // `deadline` at the latest. Blocks. Thread-safe.
  virtual GetOutcome get(int node, const Key& key, GetEnd end, Clock::time_point deadline) = 0;

  // Crashes `nodes` at once, abruptly: from this call on they neither send
  // nor receive, and they say goodbye to no one. Not called concurrently
  // with put/get.
  virtual void crash(std::span<const int> nodes) = 0;

  // The counts of every node since start(). Thread-safe.
  virtual Datagrams datagrams() const = 0;

  // Stops every node and frees it. Idempotent.
  virtual void stop() = 0;
};

// A DHT implementation the benchmark knows, by name (--impls).
struct ImplEntry {
  std::string name;   // "opendht", "nexo"
  std::string about;  // version, processes, settings, how crash and datagrams work; printed
  // A new instance for one round; an error says why this impl cannot run
  // ("did not run: ..." in the table).
  std::function<Result<std::unique_ptr<Impl>>()> make;
};

// The first of several completions of one operation (OpenDHT may call both a
// get's value callback and its done callback), with the time it came.
template <class T>
class FirstOf {
 public:
  void set(T value) {
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    if (value_) return;
    value_ = std::move(value);
    at_ = now;
    ready_.notify_all();
  }
  // The value and when it came, or nullopt at `deadline`.
  std::optional<std::pair<T, Clock::time_point>> wait_until(Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    if (!ready_.wait_until(lock, deadline, [this] { return value_.has_value(); })) {
      return std::nullopt;
    }
    return std::pair{*value_, at_};
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::optional<T> value_;
  Clock::time_point at_;
};

ImplEntry opendht_entry();  // overlay_opendht.cpp
ImplEntry nexo_entry();     // overlay_nexo.cpp

}  // namespace nexo::bench::overlay
