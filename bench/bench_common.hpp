// What bench_msg and bench_rudp share: timeouts, cpu placement, resource
// usage, a loopback TCP pair, and building a pair from its ends.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nexo/base/result.hpp"
#include "nexo/net/file_descriptor.hpp"

namespace nexo::bench {

inline constexpr std::chrono::milliseconds kTimeout{5000};  // every blocking call of a client
inline constexpr std::chrono::milliseconds kPoll{
    200};                                              // servers look at their stop flag this often
inline constexpr std::size_t kReadBuffer = 64 * 1024;  // raw readers read this much at once

enum class Cpus { free, split, same };

const char* cpus_name(Cpus cpus);
const char* verdict(bool met);  // "met" or "MISSED"

// --- cpu placement and resource usage -------------------------------------------------

// The cpus this process could run on at start-up: "free" restores this mask.
const std::vector<int>& startup_cpus();

// Binds the calling thread to `cpu`, or (negative) lets it run on every cpu of
// the start-up mask again. Threads created afterwards inherit the binding.
bool bind_thread(int cpu);

struct Placement {
  Cpus mode = Cpus::free;
  int client = -1;  // the client side: the timing thread and its context's threads
  int server = -1;  // the server side: the echo/receiver thread and its context's threads
  int proxy = -1;   // a relay between them (bench_rudp's fault proxy), if it is bound

  std::string describe() const;
};

// Context switches and CPU time of every thread of this process, live or joined.
struct Usage {
  std::int64_t switches = 0;
  double cpu_us = 0;

  static Usage now();
  Usage& operator+=(const Usage& other) {
    switches += other.switches;
    cpu_us += other.cpu_us;
    return *this;
  }
  Usage operator-(const Usage& other) const {
    return {switches - other.switches, cpu_us - other.cpu_us};
  }
};

// --- raw TCP ---------------------------------------------------------------------------

Result<void> set_timeouts(int fd, std::chrono::milliseconds receive,
                          std::chrono::milliseconds send);

// A connected pair of loopback TCP sockets (client, server), TCP_NODELAY on
// both, the client's timeouts kTimeout, the server's receive timeout
// `server_receive` (send: kTimeout).
using TcpPair = std::pair<net::FileDescriptor, net::FileDescriptor>;  // (client, server)
Result<TcpPair> tcp_pair(std::chrono::milliseconds server_receive);

// A `T` made of `ends` and the server's cpu, as a `Base`; or the error that
// kept `ends` from opening.
template <class Base, class T, class Ends>
Result<std::unique_ptr<Base>> make_with(Result<Ends> ends, int server_cpu) {
  if (!ends) return ends.error();
  std::unique_ptr<Base> out = std::make_unique<T>(std::move(*ends), server_cpu);
  return out;
}

// --- output --------------------------------------------------------------------------------

// /proc/loadavg without its newline: "1-, 5- and 15-minute load, running/threads, last pid".
std::string load_average();
// "a,b,c" -> its items.
std::vector<std::string_view> split_list(std::string_view text);

}  // namespace nexo::bench
