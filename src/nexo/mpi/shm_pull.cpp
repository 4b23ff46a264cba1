#include "nexo/mpi/shm_pull.hpp"

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace nexo::mpi {
namespace {

// Below the kernel's MAX_RW_COUNT (2 GiB less a page) for one call.
constexpr std::size_t kPullChunk = std::size_t{1} << 30;

const volatile std::uint64_t probe_word = kPullProbeValue;

Error pull_error(int err, pid_t pid, std::uintptr_t remote, std::size_t size) {
  std::string what = "process_vm_readv " + std::to_string(size) + " bytes at 0x" + [&] {
    char text[32];
    std::snprintf(text, sizeof text, "%jx", static_cast<std::uintmax_t>(remote));
    return std::string(text);
  }() + " of pid " + std::to_string(pid);
  Error error = Error::from_errno(err, what);
  switch (err) {
    case EPERM:
      return Error(
          ErrorKind::permission_denied,
          error.message() +
              " (the reader must be allowed to ptrace the sender: same user, and "
              "/proc/sys/kernel/yama/ptrace_scope 0 or 1 with the ranks started by one launcher, "
              "or CAP_SYS_PTRACE; otherwise the data goes through the shm rings)",
          err);
    case ESRCH:
      return Error(ErrorKind::closed, error.message() + " (the process is gone)", err);
    case EFAULT:
      return Error(ErrorKind::invalid_argument,
                   error.message() + " (the range is not mapped in that process)", err);
    default:
      return error;
  }
}

}  // namespace

std::uintptr_t pull_probe_address() noexcept {
  return reinterpret_cast<std::uintptr_t>(&probe_word);
}

Result<void> pull(pid_t pid, std::uintptr_t remote, std::span<std::byte> dest) {
  std::size_t done = 0;
  while (done < dest.size()) {
    std::size_t len = std::min(kPullChunk, dest.size() - done);
    iovec local{dest.data() + done, len};
    iovec from{reinterpret_cast<void*>(remote + done), len};
    ssize_t n = ::process_vm_readv(pid, &local, 1, &from, 1, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return pull_error(errno, pid, remote + done, len);
    }
    // A short read stops at an unmapped page; zero progress means the rest is not there.
    if (n == 0) return pull_error(EFAULT, pid, remote + done, len);
    done += static_cast<std::size_t>(n);
  }
  return ok();
}

Result<bool> probe_pull(pid_t pid, std::uintptr_t address) {
  std::uint64_t value = 0;
  auto got = pull(pid, address, std::as_writable_bytes(std::span(&value, 1)));
  if (!got) return std::move(got).error();
  return value == kPullProbeValue;
}

}  // namespace nexo::mpi
