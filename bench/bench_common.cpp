#include "bench_common.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <cerrno>
#include <cstdio>

#include "bench_util.hpp"

namespace nexo::bench {

using net::FileDescriptor;

// --- options and placement -----------------------------------------------------------

const char* cpus_name(Cpus cpus) {
  switch (cpus) {
    case Cpus::free:
      return "free";
    case Cpus::split:
      return "split";
    case Cpus::same:
      return "same";
  }
  return "?";
}

const char* verdict(bool met) {
  return met ? "met" : "MISSED";
}

// The cpus this process could run on at start-up: "free" restores this mask.
const std::vector<int>& startup_cpus() {
  static const std::vector<int> cpus = allowed_cpus();
  return cpus;
}

// Binds the calling thread to `cpu`, or (negative) lets it run on every cpu of
// the start-up mask again. Threads created afterwards inherit the binding.
bool bind_thread(int cpu) {
  if (cpu >= 0) return pin_this_thread(cpu);
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : startup_cpus())
    CPU_SET(c, &set);
  return ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) == 0;
}

std::string Placement::describe() const {
  if (mode == Cpus::free) return "free: no thread bound, the scheduler decides";
  if (mode == Cpus::same) return "same: every thread bound to cpu " + std::to_string(client);
  return "split: client side bound to cpu " + std::to_string(client) + ", server side to cpu " +
         std::to_string(server) + (proxy >= 0 ? ", proxy to cpu " + std::to_string(proxy) : "");
}

Usage Usage::now() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec);
  };
  return {ru.ru_nvcsw + ru.ru_nivcsw, us(ru.ru_utime) + us(ru.ru_stime)};
}

// --- raw TCP ---------------------------------------------------------------------------

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

Result<TcpPair> tcp_pair(std::chrono::milliseconds server_receive) {
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

// /proc/loadavg without its newline: "1-, 5- and 15-minute load, running/threads, last pid".
std::string load_average() {
  std::array<char, 128> text{};
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fgets(text.data(), static_cast<int>(text.size()), f) == nullptr) text[0] = '\0';
    std::fclose(f);
  }
  std::string out(text.data());
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  return out;
}

// "a,b,c" → its items.
std::vector<std::string_view> split_list(std::string_view text) {
  std::vector<std::string_view> items;
  while (!text.empty()) {
    const auto comma = text.find(',');
    items.push_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

}  // namespace nexo::bench
