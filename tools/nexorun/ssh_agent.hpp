// Starting an agent on another host through ssh, the convention of Open MPI and MPICH:
//
//   $NEXORUN_SSH -o BatchMode=yes HOST NEXORUN --agent-stdio
//
// NEXORUN_SSH: the ssh command (default "ssh"; words split at spaces, e.g. "ssh -p 2222").
// NEXORUN: $NEXORUN_REMOTE if set, else this nexorun's own absolute path (the same install
// prefix on every host, as Open MPI assumes). BatchMode: a password prompt would hang the job;
// ssh fails at once instead, and its message is passed on.
#pragma once

#include <sys/types.h>

#include <string>

#include "nexo/base/result.hpp"
#include "nexo/net/file_descriptor.hpp"
#include "nexo/net/inet_address.hpp"

namespace nexo::run {

struct SshProcess {
  pid_t pid = -1;
  net::FileDescriptor to;    // the agent's stdin
  net::FileDescriptor from;  // its stdout
  net::FileDescriptor err;   // ssh's (and the agent's) stderr
};

// Starts ssh in its own process group, with PR_SET_PDEATHSIG(SIGKILL). Errors: pipes, fork.
Result<SshProcess> start_ssh(const std::string& host);

// The address of this machine that packets toward `host` leave from (the one the ranks there
// reach the launcher at). Errors: resolve_failed, unreachable.
Result<net::InetAddress> source_address_toward(const std::string& host);

}  // namespace nexo::run
