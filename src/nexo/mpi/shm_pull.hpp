// pull() — single-copy transfer of a large message: the receiver reads the sender's buffer
// straight from the sender's address space with process_vm_readv(2) (Linux only).
//
// The kernel allows it when the reader may ptrace the target: the same user, and with Yama
// ptrace_scope 1 the target must be a descendant of the reader or have named it with
// PR_SET_PTRACER (ShmWorld::join does that for the launcher's children); scope 2 or 3 needs
// CAP_SYS_PTRACE. When it is refused, the protocol sends the data through the rings instead
// (ShmWorld::can_pull_from tells which).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "nexo/base/result.hpp"

namespace nexo::mpi {

// Copies dest.size() bytes from address `remote` in process `pid` into `dest`. Blocks only as
// long as the copy (the kernel splits nothing the caller must resume: it loops over chunks of
// at most 1 GiB and over short reads). Errors: permission_denied (EPERM: not allowed; the message
// says how to allow it), closed (ESRCH: the process is gone), invalid_argument (EFAULT: the
// remote range is not mapped), system otherwise. Thread-safe.
Result<void> pull(pid_t pid, std::uintptr_t remote, std::span<std::byte> dest);

// The address of this process's probe word, whose value is kPullProbeValue; a peer test-reads it.
std::uintptr_t pull_probe_address() noexcept;
inline constexpr std::uint64_t kPullProbeValue = 0x6E65786F70756C6CULL;  // "nexopull"

// Test-reads the probe word of process `pid` at `address`: true if pull works there, or the error.
Result<bool> probe_pull(pid_t pid, std::uintptr_t address);

}  // namespace nexo::mpi
