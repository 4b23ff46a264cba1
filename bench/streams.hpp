// One-way streams, shared by bench_msg (throughput) and bench_rudp (goodput):
// this thread sends numbered messages, a receiver thread (bound to the
// server's cpu) takes and checks each; the clock runs from the first send
// until the receiving application has the last one. A round not done by its
// deadline "did not finish": what it delivered is kept. run_stream_case
// warms every impl up, then rotates them in rounds.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <latch>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "harness.hpp"
#include "nexo/base/bytes.hpp"
#include "nexo/base/error.hpp"
#include "nexo/base/result.hpp"
#include "pairs.hpp"

namespace nexo::bench {

// What one round achieved.
struct Outcome {
  std::size_t count = 0;      // messages sent
  std::size_t delivered = 0;  // messages the receiving application took
  Clock::duration elapsed{};  // from the first send to the last receipt (or the limit)
  bool finished = false;      // all of them, within the limit
};

// Datagrams into a relay (the fault proxy), each way, and those it dropped.
struct DatagramCounts {
  std::uint64_t to = 0, back = 0, lost_to = 0, lost_back = 0;
  DatagramCounts operator-(const DatagramCounts& o) const {
    return {to - o.to, back - o.back, lost_to - o.lost_to, lost_back - o.lost_back};
  }
  DatagramCounts& operator+=(const DatagramCounts& o) {
    to += o.to, back += o.back, lost_to += o.lost_to, lost_back += o.lost_back;
    return *this;
  }
};

// The time from now to `when`, at least zero.
inline std::chrono::milliseconds until(Clock::time_point when) {
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::ceil<std::chrono::milliseconds>(when - Clock::now()));
}

class Stream {
 public:
  virtual ~Stream() = default;
  // Sends `count` messages; returns when the receiver has them all, or at
  // `deadline` (then finished is false). Errors: what failed, other than time.
  virtual Result<Outcome> round(std::size_t count, Clock::time_point deadline) = 0;
  // The datagrams of the relay the stream crosses so far; nullopt: none.
  virtual std::optional<DatagramCounts> datagrams() const { return std::nullopt; }
  // What the transport's own state says after the rounds (empty: nothing).
  virtual std::string note() const { return {}; }

 protected:
  Stream(std::size_t message_size, int server_cpu) : size_(message_size), server_cpu_(server_cpu) {}

  // Runs a round: `send_one(payload, deadline, receiver_done)` for each message
  // from this thread, then `drain(deadline, receiver_done)` (what the sender
  // must still do for the last messages to arrive), while a receiver thread
  // calls `receive_one(sequence, until)` for each (timed_out at `until`, a
  // slice of kPoll: the receiver then looks at the deadline and at whether the
  // sender gave up). The clock starts once the receiver is waiting.
  template <class SendOne, class Drain, class ReceiveOne>
  Result<Outcome> timed(std::size_t count, Clock::time_point deadline, SendOne&& send_one,
                        Drain&& drain, ReceiveOne&& receive_one) {
    std::latch ready(1);
    std::atomic<bool> receiver_done{false}, sender_gave_up{false};
    Clock::time_point last{};
    std::size_t delivered = 0;
    std::optional<Error> receive_error;
    std::thread receiver([&] {
      const bool pinned = pin_this_thread(server_cpu_);
      ready.count_down();
      if (pinned) {
        delivered = receive_each(count, deadline, sender_gave_up, receive_one, receive_error);
      } else {
        receive_error = Error(ErrorKind::system, "cannot bind the receiver thread");
      }
      last = Clock::now();
      receiver_done.store(true);
    });
    ready.wait();
    const Clock::time_point start = Clock::now();
    auto sent = send_each(count, deadline, receiver_done, send_one);
    if (sent) sent = drain(deadline, receiver_done);
    if (!sent) sender_gave_up.store(true);
    receiver.join();
    if (receive_error) return std::move(*receive_error).with_context("receiver");
    if (!sent && !sent.error().is(ErrorKind::timed_out)) {
      return std::move(sent).error().with_context("sender");
    }
    return Outcome{count, delivered, last - start, delivered == count};
  }

  // Checks that message `sequence` arrived whole and in order.
  Result<void> check(std::span<const std::byte> data, std::size_t sequence) const;
  static Error time_is_up() { return Error(ErrorKind::timed_out, "the round's time is up"); }
  // A drain that has nothing to do.
  static Result<void> nothing_to_drain(Clock::time_point, const std::atomic<bool>&) { return ok(); }

  std::size_t size() const { return size_; }

 private:
  template <class SendOne>
  Result<void> send_each(std::size_t count, Clock::time_point deadline,
                         const std::atomic<bool>& receiver_done, SendOne& send_one) {
    Bytes payload(size_, std::byte{'m'});
    for (std::size_t i = 0; i < count; ++i) {
      const auto sequence = static_cast<std::uint32_t>(i);
      std::memcpy(payload.data(), &sequence, sizeof sequence);
      if (auto sent = send_one(payload, deadline, receiver_done); !sent) return sent;
    }
    return ok();
  }

  // How many messages arrived before the deadline, an error, or the sender gave up.
  template <class ReceiveOne>
  static std::size_t receive_each(std::size_t count, Clock::time_point deadline,
                                  const std::atomic<bool>& sender_gave_up, ReceiveOne& receive_one,
                                  std::optional<Error>& error) {
    std::size_t i = 0;
    while (i < count) {
      auto got = receive_one(i, std::min(deadline, Clock::now() + kPoll));
      if (got) {
        ++i;
        continue;
      }
      if (!got.error().is(ErrorKind::timed_out)) {
        error = std::move(got).error();
        break;
      }
      if (Clock::now() >= deadline || sender_gave_up.load()) break;
    }
    return i;
  }

  std::size_t size_;
  int server_cpu_;
};

// The raw anchor of a one-way stream over a connected stream pair (loopback
// TCP or a Unix-domain socketpair): framed messages ([u32 big-endian
// length][payload]) read 64 KiB at a time. Unbatched: one send() per message
// (the floor without batching); batched: kRawBatch frames per writev() (the
// last batch of a round as it is), batching as nexo does without its bookkeeping.
inline constexpr std::size_t kRawBatch = 64;  // nexo's gather limit (net/tcp_stream.cpp)
class RawStream final : public Stream {
 public:
  RawStream(SocketPair sockets, std::size_t message_size, int server_cpu, bool batched);
  Result<Outcome> round(std::size_t count, Clock::time_point deadline) override;

 private:
  // Writes the queued frames with one writev (more if the socket takes part).
  Result<void> flush();

  net::FileDescriptor client_, server_;
  std::vector<Bytes> frames_;
  std::size_t queued_ = 0;
  RecordReader reader_;  // kept across rounds (the receiver thread of one round at a time)
};

struct StreamResult {
  Spread rates;  // messages per second, one per finished round
  Usage usage;
  std::size_t messages = 0;           // over the measured rounds
  DatagramCounts datagrams;           // over the measured rounds
  std::optional<Outcome> unfinished;  // the round that did not finish
  bool unfinished_warmup = false;     // ... and it was the warm-up
  std::string note;                   // the stream's, after the rounds
  bool ran = false;
};

struct StreamRounds {
  int messages = 20'000;  // per impl per round (the warm-up: a tenth)
  int rounds = 5;
  int limit_s = 60;  // a round not done by then did not finish
};

// Opens `impl`'s stream: the stream (never null) or the error that kept it from opening.
using OpenStream = std::function<Result<std::unique_ptr<Stream>>(std::size_t impl)>;

// One case: the streams of `impls` opened, each warmed up (a tenth of a
// round), then rounds of `messages` each, the first impl rotating. A stream
// whose round did not finish is closed at once and left out of the rest.
Result<void> run_stream_case(std::span<const std::size_t> impls, const OpenStream& open,
                             int client_cpu, const StreamRounds& counts, const ImplChoice& names,
                             std::vector<StreamResult>& results);

// "per <what>: warm-up W messages, then R rounds x M messages, the first impl
// rotating; the clock ...; a round not done in L s did not finish".
void print_stream_plan(const StreamRounds& counts, const char* what);

// Prints "did not finish: ...", "no round measured" or nothing (false) for a
// result that has figures.
bool print_unfinished(const StreamResult& r, std::size_t message_size);

}  // namespace nexo::bench
