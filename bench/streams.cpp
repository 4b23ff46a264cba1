#include "streams.hpp"

#include <sys/uio.h>

#include <array>
#include <cerrno>
#include <cstdio>

namespace nexo::bench {

Result<void> Stream::check(std::span<const std::byte> data, std::size_t sequence) const {
  if (data.size() != size_) return short_reply(data.size(), size_);
  std::uint32_t value = 0;
  std::memcpy(&value, data.data(), sizeof value);
  if (value != static_cast<std::uint32_t>(sequence)) {
    return Error(ErrorKind::malformed, "message " + std::to_string(sequence) +
                                           " arrived as number " + std::to_string(value));
  }
  return ok();
}

RawStream::RawStream(SocketPair sockets, std::size_t message_size, int server_cpu, bool batched)
    : Stream(message_size, server_cpu),
      client_(std::move(sockets.first)),
      server_(std::move(sockets.second)),
      frames_(batched ? kRawBatch : 1) {}

Result<Outcome> RawStream::round(std::size_t count, Clock::time_point deadline) {
  auto send_one = [&](const Bytes& payload, Clock::time_point,
                      const std::atomic<bool>&) -> Result<void> {
    make_frame(frames_[queued_++], payload);
    return queued_ == frames_.size() ? flush() : ok();
  };
  auto drain = [&](Clock::time_point, const std::atomic<bool>&) { return flush(); };
  auto receive_one = [&](std::size_t i, Clock::time_point) -> Result<void> {
    auto data = reader_.next(server_.get());  // SO_RCVTIMEO: kPoll (a slice)
    if (!data) return std::move(data).error();
    return check(*data, i);
  };
  return timed(count, deadline, send_one, drain, receive_one);
}

Result<void> RawStream::flush() {
  std::array<iovec, kRawBatch> iov{};
  for (std::size_t i = 0; i < queued_; ++i)
    iov[i] = {frames_[i].data(), frames_[i].size()};
  std::size_t first = 0;
  while (first < queued_) {
    const ssize_t n = ::writev(client_.get(), &iov[first], static_cast<int>(queued_ - first));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno(errno, "writev");
    for (auto left = static_cast<std::size_t>(n); left > 0;) {
      const std::size_t step = std::min(left, iov[first].iov_len);
      iov[first].iov_base = static_cast<std::byte*>(iov[first].iov_base) + step;
      iov[first].iov_len -= step;
      left -= step;
      if (iov[first].iov_len == 0) ++first;
    }
  }
  queued_ = 0;
  return ok();
}

namespace {

double per_second(std::size_t messages, Clock::duration elapsed) {
  const double seconds = std::max(std::chrono::duration<double>(elapsed).count(), 1e-9);
  return static_cast<double>(messages) / seconds;
}

// One measured round of `stream`, its figures added to `result`; false if it did not finish.
Result<bool> measure_round(Stream& stream, const StreamRounds& counts, StreamResult& result) {
  const auto count = static_cast<std::size_t>(counts.messages);
  const auto before = stream.datagrams();
  const Usage usage = Usage::now();
  auto outcome = stream.round(count, Clock::now() + std::chrono::seconds(counts.limit_s));
  result.usage += Usage::now() - usage;
  if (!outcome) return outcome.error();
  if (before) result.datagrams += *stream.datagrams() - *before;
  if (!outcome->finished) {
    result.unfinished = *outcome;
    return false;
  }
  result.messages += count;
  result.rates.values.push_back(per_second(count, outcome->elapsed));
  return true;
}

}  // namespace

Result<void> run_stream_case(std::span<const std::size_t> impls, const OpenStream& open,
                             int client_cpu, const StreamRounds& counts, const ImplChoice& names,
                             std::vector<StreamResult>& results) {
  std::vector<std::unique_ptr<Stream>> streams(results.size());
  for (std::size_t impl : impls) {
    auto stream = open(impl);
    bind_thread(client_cpu);  // opening may have bound this thread to the server's cpu
    if (!stream) return stream.error().with_context(names.name(impl));
    streams[impl] = std::move(*stream);
    results[impl].ran = true;
  }
  // A stream that did not finish is closed at once: it would go on sending in
  // the background (ENet's idle service, nexo's I/O thread) during the others' rounds.
  auto give_up = [&](std::size_t impl, const Outcome& outcome) {
    results[impl].unfinished = outcome;
    results[impl].note = streams[impl]->note();
    streams[impl].reset();
  };
  const auto limit = std::chrono::seconds(counts.limit_s);
  const auto warmup = static_cast<std::size_t>(std::max(counts.messages / 10, 1));
  for (std::size_t impl : impls) {
    auto warm = streams[impl]->round(warmup, Clock::now() + limit);
    if (!warm) return warm.error().with_context(names.name(impl));
    if (!warm->finished) {
      results[impl].unfinished_warmup = true;
      give_up(impl, *warm);
    }
  }
  auto rounds = rotate_rounds(counts.rounds, impls, [&](std::size_t impl) -> Result<void> {
    if (!streams[impl]) return ok();
    auto measured = measure_round(*streams[impl], counts, results[impl]);
    if (!measured) return measured.error().with_context(names.name(impl));
    if (!*measured) give_up(impl, *results[impl].unfinished);
    return ok();
  });
  for (std::size_t impl : impls) {
    if (streams[impl]) results[impl].note = streams[impl]->note();
  }
  return rounds;
}

void print_stream_plan(const StreamRounds& counts, const char* what) {
  std::printf(
      "per %s: warm-up %d messages, then %d rounds x %d messages, the first impl rotating; the "
      "clock stops when the receiving application has the last one; a round not done in %d s "
      "did not finish\n",
      what, std::max(counts.messages / 10, 1), counts.rounds, counts.messages, counts.limit_s);
}

bool print_unfinished(const StreamResult& r, std::size_t message_size) {
  if (r.unfinished) {
    const auto& u = *r.unfinished;
    const double seconds = std::chrono::duration<double>(u.elapsed).count();
    std::printf("did not finish: %zu of %zu messages delivered in %.1f s (%.2f MB/s), %s\n",
                u.delivered, u.count, seconds,
                per_second(u.delivered, u.elapsed) * static_cast<double>(message_size) / 1e6,
                r.unfinished_warmup
                    ? "in the warm-up"
                    : ("in round " + std::to_string(r.rates.values.size() + 1)).c_str());
    return true;
  }
  if (r.rates.values.empty()) {
    std::printf("no round measured\n");
    return true;
  }
  return false;
}

}  // namespace nexo::bench
