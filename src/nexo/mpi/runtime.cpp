#include "nexo/mpi/runtime.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "nexo/mpi/shm.hpp"
#include "nexo/mpi/shm_pull.hpp"
#include "nexo/mpi/trace.hpp"

namespace nexo::mpi {
namespace {

Runtime* g_runtime = nullptr;

// Messages up to this size travel through the rings; larger ones are pulled (one copy).
constexpr std::size_t kShmEagerLimit = 32 * 1024;

Error env_error(std::string_view name, std::string_view value, std::string_view why) {
  return Error(ErrorKind::invalid_argument, "environment variable " + std::string(name) + "=\"" +
                                                std::string(value) + "\": " + std::string(why) +
                                                " (set by nexorun: start the program with it)");
}

Result<int> env_int(const char* name, int low, int high, std::optional<int> fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr) {
    if (fallback) return *fallback;
    return Error(ErrorKind::invalid_argument,
                 std::string("environment variable ") + name +
                     " is missing (set by nexorun: start the program with it)");
  }
  const std::string_view value(text);
  int n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end != value.data() + value.size())
    return env_error(name, value, "not an integer");
  if (n < low || n > high)
    return env_error(name, value,
                     "out of range " + std::to_string(low) + ".." + std::to_string(high));
  return n;
}

Result<std::optional<LaunchInfo>> read_launch_info() {
  if (std::getenv("NEXO_MPI_RANK") == nullptr) return std::optional<LaunchInfo>{};
  LaunchInfo info;
  auto size = env_int("NEXO_MPI_SIZE", 1, 1 << 20, std::nullopt);
  if (!size) return std::move(size).error();
  info.size = *size;
  auto rank = env_int("NEXO_MPI_RANK", 0, info.size - 1, std::nullopt);
  if (!rank) return std::move(rank).error();
  info.rank = *rank;
  if (const char* shm = std::getenv(kShmEnvVar); shm != nullptr) info.shm_spec = shm;
  auto local_size = env_int("NEXO_MPI_LOCAL_SIZE", 1, info.size, info.size);
  if (!local_size) return std::move(local_size).error();
  info.local_size = *local_size;
  auto local_rank = env_int("NEXO_MPI_LOCAL_RANK", 0, info.local_size - 1, info.rank);
  if (!local_rank) return std::move(local_rank).error();
  info.local_rank = *local_rank;
  if (info.local_size != info.size || info.shm_spec.empty()) {
    return Error(ErrorKind::invalid_argument,
                 "this nexo MPI runtime runs the ranks of one host over shared memory "
                 "(NEXO_MPI_SHM, NEXO_MPI_LOCAL_SIZE = NEXO_MPI_SIZE); TCP comes next");
  }
  return std::optional<LaunchInfo>{info};
}

// How long a waiting rank polls before it sleeps. While the host's ranks fit its CPUs, a rank
// spins for long (as Open MPI and MPICH do: a futex wake-up costs tens of microseconds here,
// the message itself well under one); with more ranks than CPUs a spinning rank steals the CPU
// of the rank it waits for, so it sleeps almost at once. NEXO_MPI_SPIN_US overrides.
ShmOptions shm_options(int local_size) {
  ShmOptions options;
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  const int ncpu = ::sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
  options.spin = local_size <= ncpu ? std::chrono::nanoseconds(std::chrono::milliseconds(2))
                                    : std::chrono::nanoseconds(std::chrono::microseconds(4));
  if (auto us = env_int("NEXO_MPI_SPIN_US", 0, 10'000'000, -1); us && *us >= 0)
    options.spin = std::chrono::microseconds(*us);
  return options;
}

}  // namespace

Runtime* runtime() noexcept {
  return g_runtime;
}

Result<std::unique_ptr<Runtime>> Runtime::start() {
  auto launch = read_launch_info();
  if (!launch) return std::move(launch).error();
  std::unique_ptr<Runtime> rt(new Runtime());
  const LaunchInfo info = launch->value_or(LaunchInfo{});
  rt->rank_ = info.rank;
  rt->size_ = info.size;
  EngineConfig config;
  config.rank = info.rank;
  rt->local_of_.assign(static_cast<std::size_t>(info.size), -1);
  if (!info.shm_spec.empty()) {
    auto segment = ShmSegment::open_spec(info.shm_spec);
    if (!segment) return std::move(segment).error().with_context("MPI_Init: shared memory");
    if (segment->nranks() != info.local_size) {
      return Error(ErrorKind::invalid_argument, "MPI_Init: the shared segment " + info.shm_spec +
                                                    " is for " + std::to_string(segment->nranks()) +
                                                    " ranks, NEXO_MPI_LOCAL_SIZE says " +
                                                    std::to_string(info.local_size));
    }
    auto world = ShmWorld::join(std::move(*segment), info.local_rank, shm_options(info.local_size));
    if (!world) return std::move(world).error().with_context("MPI_Init: shared memory");
    rt->shm_ = std::make_unique<ShmWorld>(std::move(*world));
    // One host: shared-memory rank = world rank.
    rt->world_of_local_.resize(static_cast<std::size_t>(info.local_size));
    for (int r = 0; r < info.local_size; ++r) {
      rt->local_of_[static_cast<std::size_t>(r)] = r;
      rt->world_of_local_[static_cast<std::size_t>(r)] = r;
    }
    config.eager_limit = std::min(kShmEagerLimit, rt->shm_->max_whole_frame() - kFrameHeaderSize);
    config.max_frame = rt->shm_->max_whole_frame() - kFrameHeaderSize - kDataOffsetSize;
    config.pull_pid = static_cast<std::uint64_t>(::getpid());
    ShmWorld* shm = rt->shm_.get();
    const Runtime* self = rt.get();
    config.pull = [shm, self](std::int32_t sender, const PullAddress& at,
                              std::span<std::byte> into) -> Result<void> {
      const int local = self->local_of_[static_cast<std::size_t>(sender)];
      if (local < 0)
        return Error(ErrorKind::invalid_argument,
                     "rank " + std::to_string(sender) + " is on another host");
      if (static_cast<std::uint64_t>(shm->pid_of(local)) != at.pid)
        return Error(ErrorKind::malformed,
                     "RTS names a pid that is not rank " + std::to_string(sender) + "'s");
      auto can = shm->can_pull_from(local);
      if (!can) return std::move(can).error();
      if (!*can) return Error(ErrorKind::permission_denied, "pull refused");
      return pull(static_cast<pid_t>(at.pid), static_cast<std::uintptr_t>(at.address), into);
    };
  }
  rt->engine_ = std::make_unique<Engine>(std::move(config));
  rt->frame_.resize(rt->engine_->frame_capacity());
  rt->pending_.resize(static_cast<std::size_t>(info.size));
  rt->has_pending_.assign(static_cast<std::size_t>(info.size), false);
  g_runtime = rt.get();
  return rt;
}

Runtime::~Runtime() {
  if (g_runtime == this) g_runtime = nullptr;
}

Result<bool> Runtime::send_frame(int to, std::span<const std::byte> frame) {
  if (to == rank_) {
    auto taken = engine_->on_frame(to, frame);
    if (!taken) return std::move(taken).error();
    return true;
  }
  const int local = local_of_[static_cast<std::size_t>(to)];
  if (local >= 0 && shm_) return shm_->send(local, frame, Wake::deferred);
  return Error(ErrorKind::invalid_argument, "no transport reaches rank " + std::to_string(to));
}

Result<void> Runtime::transmit() {
  // Frames the transport had no room for go first, in order.
  for (std::size_t to = 0; to < pending_.size(); ++to) {
    if (!has_pending_[to]) continue;
    auto sent = send_frame(static_cast<int>(to), pending_[to]);
    if (!sent) return std::move(sent).error();
    if (*sent) has_pending_[to] = false;
  }
  if (!engine_->has_output()) return ok();
  engine_->peers_with_output(peers_);
  for (const std::int32_t to : peers_) {
    const auto t = static_cast<std::size_t>(to);
    if (has_pending_[t]) continue;
    for (;;) {
      auto size = engine_->poll_transmit(to, frame_);
      if (!size) return std::move(size).error();
      if (*size == 0) break;
      const std::span<const std::byte> frame(frame_.data(), *size);
      auto sent = send_frame(to, frame);
      if (!sent) return std::move(sent).error();
      if (!*sent) {
        pending_[t].assign(frame.begin(), frame.end());
        has_pending_[t] = true;
        break;
      }
    }
  }
  if (shm_) shm_->flush_doorbells();
  return ok();
}

Result<bool> Runtime::receive() {
  if (!shm_) return false;
  auto delivered = shm_->poll([this](int from, std::span<const std::byte> frame) {
    if (receive_error_) return;
    auto taken = engine_->on_frame(world_of_local_[static_cast<std::size_t>(from)], frame);
    if (!taken) receive_error_ = std::move(taken).error();
  });
  if (!delivered) return std::move(delivered).error();
  if (receive_error_) return *receive_error_;
  return *delivered > 0;
}

Result<bool> Runtime::progress() {
  const bool had_output = engine_->has_output();
  if (auto sent = transmit(); !sent) return std::move(sent).error();
  auto received = receive();
  if (!received) return std::move(received).error();
  // Frames that arrived may have made replies (CTS, SYNC_ACK, FIN): send them now.
  if (*received && engine_->has_output()) {
    if (auto sent = transmit(); !sent) return std::move(sent).error();
  }
  return had_output || *received;
}

Result<void> Runtime::wait_until(const std::function<bool()>& done) {
  for (;;) {
    if (done()) return ok();
    auto moved = progress();
    if (!moved) return std::move(moved).error();
    if (done()) return ok();
    if (*moved) continue;
    bool pending = false;
    for (bool p : has_pending_)
      pending = pending || p;
    if (shm_) {
      // Sleeps until a frame arrives, a full ring has room, or a peer rings the doorbell; the
      // bound only limits how long a lost wake-up (there should be none) could cost.
      auto woken = shm_->wait(std::chrono::milliseconds(pending ? 1 : 100));
      if (!woken) return std::move(woken).error();
      continue;
    }
    // Nothing can arrive: no transport, nothing queued to self.
    if (!engine_->has_output() && !pending) {
      return Error(ErrorKind::invalid_argument,
                   "deadlock: this rank waits for a message no rank can send (a singleton, or a "
                   "receive from itself with no matching send)");
    }
  }
}

void Runtime::abort_job(int code, const std::string& why) {
  trace_finish();  // what led here is the interesting part of a trace
  std::fprintf(stderr, "nexo MPI: rank %d: %s\n", rank_, why.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  // The launcher sees the exit status and ends the other ranks.
  ::_exit(code == 0 ? 1 : (code & 0xff) == 0 ? 1 : code & 0xff);
}

Result<void> Runtime::flush() {
  return wait_until([this] {
    return !engine_->has_output() &&
           std::none_of(has_pending_.begin(), has_pending_.end(), [](bool p) { return p; });
  });
}

}  // namespace nexo::mpi
