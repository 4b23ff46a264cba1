#include "pairs.hpp"

#include <sys/resource.h>
#include <sys/time.h>

#include <array>
#include <cerrno>
#include <cstdio>

namespace nexo::bench {

using net::FileDescriptor;

// --- one round trip --------------------------------------------------------------------

Message::Message(std::size_t size) : request_(size), reply_(size) {
  for (std::size_t i = 0; i < size; ++i)
    request_[i] = static_cast<std::byte>('a' + i % 26);
}

Error short_reply(std::size_t got, std::size_t expected) {
  return Error(ErrorKind::malformed,
               "reply of " + std::to_string(got) + " bytes, expected " + std::to_string(expected));
}

Error echo_failure(PingPong& pair, Error client, std::string_view impl) {
  client.with_context(impl);
  auto echo = pair.finish();
  if (echo) return client;
  return Error(client.kind(), client.message() + " (echo thread: " + echo.error().message() + ")",
               client.sys_errno());
}

// --- the latency section ----------------------------------------------------------------

namespace {

// Opens the pair of each of `impls` into `pairs`; the first that fails is the error.
Result<void> open_pairs(std::span<const std::size_t> impls, const OpenPair& open, int client_cpu,
                        const ImplChoice& names, std::vector<std::unique_ptr<PingPong>>& pairs) {
  for (std::size_t impl : impls) {
    auto pair = open(impl);
    bind_thread(client_cpu);  // opening may have bound this thread to the server's cpu
    if (!pair) return pair.error().with_context(names.name(impl));
    pairs[impl] = std::move(*pair);
  }
  return ok();
}

}  // namespace

Result<void> run_latency_case(std::span<const std::size_t> impls, const OpenPair& open,
                              int client_cpu, const LatencyRounds& counts, std::size_t size,
                              const ImplChoice& names, std::vector<LatencyResult>& results) {
  std::vector<std::unique_ptr<PingPong>> pairs(results.size());
  if (auto opened = open_pairs(impls, open, client_cpu, names, pairs); !opened) return opened;
  Message message(size);
  for (std::size_t impl : impls) {
    results[impl].samples.reserve(static_cast<std::size_t>(counts.rounds * counts.iterations));
    auto warm = pairs[impl]->run(static_cast<std::size_t>(counts.warmup), message, nullptr);
    if (!warm) return echo_failure(*pairs[impl], std::move(warm).error(), names.name(impl));
  }
  auto rounds = rotate_rounds(counts.rounds, impls, [&](std::size_t impl) -> Result<void> {
    const Usage before = Usage::now();
    auto ran = pairs[impl]->run(static_cast<std::size_t>(counts.iterations), message,
                                &results[impl].samples);
    results[impl].usage += Usage::now() - before;
    if (!ran) return echo_failure(*pairs[impl], std::move(ran).error(), names.name(impl));
    return ran;
  });
  if (!rounds) return rounds;
  for (std::size_t impl : impls) {
    if (auto finished = pairs[impl]->finish(); !finished) {
      return finished.error().with_context(names.name(impl));
    }
    results[impl].ran = true;
  }
  return ok();
}

namespace {

// "cpus size impl [extra]", padded as the header is.
std::string row_head(const LatencyTable& table, const char* cpus, const char* size,
                     const char* impl, const char* extra) {
  std::array<char, 96> text{};
  std::snprintf(text.data(), text.size(), "%-6s %-5s %-*s", cpus, size, table.impl_width, impl);
  std::string head(text.data());
  if (table.extra_head != nullptr) {
    std::snprintf(text.data(), text.size(), " %-6s", extra);
    head += text.data();
  }
  return head;
}

}  // namespace

bool run_latency_section(const LatencyTable& table, std::span<const Placement> placements,
                         std::span<const std::size_t> impls, const OpenSizedPair& open,
                         const LatencyRounds& counts, const ImplChoice& names,
                         std::vector<LatencySummary>& summaries) {
  std::printf(("\n" + row_head(table, "cpus", "size", "impl", table.extra_head) + " " +
               kLatencyColumns)
                  .c_str(),
              "p50_us", "p99_us", "rt/s", "csw/rt", "cpu_us/rt");
  bool all_ran = true;
  for (const Placement& placement : placements) {
    bind_thread(placement.client);
    const char* cpus = cpus_name(placement.mode);
    for (std::size_t size : {std::size_t{64}, std::size_t{1024}}) {
      std::vector<LatencyResult> results(names.names().size());
      auto open_sized = [&](std::size_t impl) { return open(placement, size, impl); };
      const std::string size_text = size_name(size);
      if (auto ran = run_latency_case(impls, open_sized, placement.client, counts, size, names,
                                      results);
          !ran) {
        std::fprintf(stderr, "%s: latency %s %s: %s\n", table.program, cpus, size_text.c_str(),
                     ran.error().message().c_str());
        all_ran = false;
      }
      summaries.push_back(
          print_latency_case(std::string(cpus) + " " + size_text, results, [&](std::size_t impl) {
            const std::string extra = table.extra ? table.extra(impl) : std::string();
            return row_head(table, cpus, size_text.c_str(), names.name(impl), extra.c_str());
          }));
    }
  }
  bind_thread(-1);
  return all_ran;
}

void add_latency_flags(Flags& flags, LatencyRounds& counts) {
  flags
      .count("--rounds", counts.rounds, 1000,
             "latency rounds per case (default " + std::to_string(counts.rounds) + ")")
      .count("--iterations", counts.iterations, 10'000'000,
             "round trips per impl per round (default " + std::to_string(counts.iterations) + ")")
      .count("--warmup", counts.warmup, 10'000'000,
             "round trips per impl before measuring (default " + std::to_string(counts.warmup) +
                 ")");
}

void print_latency_plan(const LatencyRounds& counts, const char* order) {
  std::printf("per case: warm-up %d, then %d rounds x %d round trips per impl, %s\n", counts.warmup,
              counts.rounds, counts.iterations, order);
}

LatencySummary print_latency_case(std::string label, std::vector<LatencyResult>& results,
                                  const std::function<std::string(std::size_t)>& prefix) {
  LatencySummary summary{std::move(label), std::vector<double>(results.size()),
                         std::vector<double>(results.size())};
  for (std::size_t impl = 0; impl < results.size(); ++impl) {
    auto& r = results[impl];
    if (!r.ran) continue;
    summary.p50[impl] = r.samples.percentile_us(50);
    summary.p99[impl] = r.samples.percentile_us(99);
    const double n = static_cast<double>(r.samples.count());
    std::printf("%s %8.2f %8.2f %9.0f %8.2f %10.2f\n", prefix(impl).c_str(), summary.p50[impl],
                summary.p99[impl], r.samples.rate_per_second(),
                static_cast<double>(r.usage.switches) / n, r.usage.cpu_us / n);
  }
  std::fflush(stdout);
  return summary;
}

// --- raw POSIX sockets -------------------------------------------------------------------

RawPair::RawPair(SocketPair sockets, int server_cpu)
    : client_(std::move(sockets.first)),
      server_(std::move(sockets.second)),
      thread_(server_cpu, [this] { return echo(); }) {}

Result<void> RawPair::run(std::size_t count, Message& message, LatencySamples* samples) {
  const int fd = client_.get();
  return time_round_trips(count, message, samples, [&](std::optional<Error>& error) {
    make_frame(frame_, message.request());
    if (!send_all(fd, frame_, error)) return false;
    auto reply = reader_.next(fd);
    if (!reply) return fail(error, std::move(reply).error());
    if (!reply_size_is(reply->size(), message.size(), error)) return false;
    std::memcpy(message.reply().data(), reply->data(), reply->size());
    return true;
  });
}

Result<void> RawPair::finish() {
  stop_.store(true);
  client_.reset();  // the echo reads the end of the stream
  return thread_.join();
}

Result<void> RawPair::echo() {
  RecordReader reader;
  Bytes frame;
  std::optional<Error> error;
  for (;;) {
    auto request = reader.next(server_.get());
    if (!request) {
      if (request.error().is(ErrorKind::closed)) return ok();
      if (request.error().is(ErrorKind::timed_out) && !stop_.load()) continue;
      if (request.error().is(ErrorKind::timed_out)) return ok();
      return std::move(request).error().with_context("raw echo");
    }
    make_frame(frame, *request);
    if (!send_all(server_.get(), frame, error)) return std::move(*error).with_context("raw echo");
  }
}

sockaddr_in v4_address(std::uint32_t host, std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(host);
  address.sin_port = htons(port);
  return address;
}

Result<void> set_socket_option(int fd, int level, int name, const void* value, socklen_t size,
                               std::string_view what) {
  if (::setsockopt(fd, level, name, value, size) != 0) return Error::from_errno(errno, what);
  return ok();
}

Result<void> set_no_delay(int fd, std::string_view what) {
  const int on = 1;
  return set_socket_option(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on, what);
}

Result<void> set_timeouts(int fd, std::chrono::milliseconds receive,
                          std::chrono::milliseconds send) {
  auto tv = [](std::chrono::milliseconds ms) {
    return timeval{static_cast<time_t>(ms.count() / 1000),
                   static_cast<suseconds_t>(ms.count() % 1000 * 1000)};
  };
  const timeval r = tv(receive), s = tv(send);
  if (auto set = set_socket_option(fd, SOL_SOCKET, SO_RCVTIMEO, &r, sizeof r, "SO_RCVTIMEO");
      !set) {
    return set;
  }
  return set_socket_option(fd, SOL_SOCKET, SO_SNDTIMEO, &s, sizeof s, "SO_SNDTIMEO");
}

bool send_all(int fd, std::span<const std::byte> data, std::optional<Error>& error) {
  while (!data.empty()) {
    const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return fail(error, errno == EAGAIN
                             ? Error(ErrorKind::timed_out, "send: no room within the deadline")
                             : Error::from_errno(errno, "send"));
    }
    data = data.subspan(static_cast<std::size_t>(sent));
  }
  return true;
}

Result<SocketPair> tcp_pair(std::chrono::milliseconds server_receive) {
  FileDescriptor listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) return Error::from_errno(errno, "socket");
  sockaddr_in address = v4_address(kLoopbackV4, 0);
  if (::bind(listener.get(), as_sockaddr(address), sizeof address) != 0) {
    return Error::from_errno(errno, "bind");
  }
  socklen_t length = sizeof address;
  if (::getsockname(listener.get(), as_sockaddr(address), &length) != 0) {
    return Error::from_errno(errno, "getsockname");
  }
  if (::listen(listener.get(), 1) != 0) return Error::from_errno(errno, "listen");
  FileDescriptor client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!client) return Error::from_errno(errno, "socket");
  if (auto t = set_timeouts(client.get(), kTimeout, kTimeout); !t) return t.error();
  if (::connect(client.get(), as_sockaddr(address), sizeof address) != 0) {
    return Error::from_errno(errno, "connect");
  }
  // The connection is complete (loopback): the listener has it queued, accept cannot wait.
  FileDescriptor server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!server) return Error::from_errno(errno, "accept");
  for (int fd : {client.get(), server.get()}) {
    if (auto nd = set_no_delay(fd); !nd) return nd.error();
  }
  if (auto t = set_timeouts(server.get(), server_receive, kTimeout); !t) return t.error();
  return std::pair{std::move(client), std::move(server)};
}

Result<SocketPair> unix_pair(std::chrono::milliseconds server_receive) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return Error::from_errno(errno, "socketpair");
  }
  FileDescriptor client(fds[0]), server(fds[1]);
  if (auto t = set_timeouts(client.get(), kTimeout, kTimeout); !t) return t.error();
  if (auto t = set_timeouts(server.get(), server_receive, kTimeout); !t) return t.error();
  return std::pair{std::move(client), std::move(server)};
}

namespace {

void put_be32(std::byte* out, std::uint32_t value) {
  for (int i = 3; i >= 0; --i) {
    out[i] = static_cast<std::byte>(value & 0xff);
    value >>= 8;
  }
}

std::uint32_t get_be32(const std::byte* in) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i)
    value = value << 8 | std::to_integer<std::uint32_t>(in[i]);
  return value;
}

}  // namespace

void make_frame(Bytes& frame, std::span<const std::byte> payload) {
  frame.resize(4 + payload.size());
  put_be32(frame.data(), static_cast<std::uint32_t>(payload.size()));
  if (!payload.empty()) std::memcpy(frame.data() + 4, payload.data(), payload.size());
}

Result<std::span<const std::byte>> RecordReader::next(int fd) {
  for (;;) {
    const std::size_t have = end_ - begin_;
    const std::size_t head = record_ == 0 ? 4 : 0;
    if (have >= head) {
      const std::size_t length = record_ == 0 ? get_be32(buffer_.data() + begin_) : record_;
      if (length > buffer_.size() - head) {
        return Error(ErrorKind::malformed, "record of " + std::to_string(length) + " bytes");
      }
      if (have >= head + length) {
        const auto payload = std::span<const std::byte>(buffer_).subspan(begin_ + head, length);
        begin_ += head + length;
        return payload;
      }
    }
    if (begin_ == end_) {
      begin_ = end_ = 0;
    } else if (begin_ > 0) {  // keep the partial record at the front
      std::memmove(buffer_.data(), buffer_.data() + begin_, have);
      begin_ = 0;
      end_ = have;
    }
    const ssize_t n = ::recv(fd, buffer_.data() + end_, buffer_.size() - end_, 0);
    if (n == 0) return Error(ErrorKind::closed, "recv: closed by the peer");
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return Error(ErrorKind::timed_out, "recv: nothing within the deadline");
      return Error::from_errno(errno, "recv");
    }
    end_ += static_cast<std::size_t>(n);
  }
}

void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    static_cast<void>(::setrlimit(RLIMIT_NOFILE, &limit));
  }
}

}  // namespace nexo::bench
