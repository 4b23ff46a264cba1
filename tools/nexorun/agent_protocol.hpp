// The messages between nexorun and its agents (nexorun --agent / --agent-stdio), in the control
// protocol's framing (nexo/mpi/control.hpp: u32 LE length, u8 type, body), types from 32 up.
//
//   LAUNCH   launcher -> agent   LaunchSpec: job, world_size u32, control, host, bind,
//                                transport u8, trace, ring_bytes u64, program, cwd (empty or
//                                absolute), args (u32 count, then strings), ranks (u32 count,
//                                then u32 each)
//   STARTED  agent -> launcher   u32 count, then (rank u32, pid u32) each
//   OUTPUT   agent -> launcher   rank u32, stream u8 (1 stdout, 2 stderr), line (u32 + bytes)
//   EXITED   agent -> launcher   rank u32, signaled u8, value u32
//   FAILED   agent -> launcher   why (string): the agent could not start the ranks
//   KILL     launcher -> agent   empty: end every rank now (SIGTERM, then SIGKILL)
//   TRACE    agent -> launcher   rank u32, offset u64, chunk (u32 + bytes, at most kTraceChunk):
//                                a piece of the rank's trace file, when the launcher's trace
//                                directory is not on the agent's file system
//
// The agent ends its ranks when the launcher says KILL or its connection drops; it closes the
// connection once every rank has ended and been reported.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nexo/mpi/control.hpp"
#include "rank_processes.hpp"

namespace nexo::run {

enum class AgentType : std::uint8_t {
  launch = 32,
  started = 33,
  output = 34,
  exited = 35,
  failed = 36,
  kill = 37,
  trace = 38,
};

// Limits on what a LAUNCH carries.
inline constexpr std::size_t kMaxArg = 32 * 1024;
inline constexpr std::size_t kMaxArgs = 4096;

Result<Bytes> encode_launch(const LaunchSpec& spec);
Result<LaunchSpec> decode_launch(std::span<const std::byte> body);
Result<Bytes> encode_started(const std::vector<std::pair<int, pid_t>>& pids);
Result<std::vector<std::pair<int, pid_t>>> decode_started(std::span<const std::byte> body);
Result<Bytes> encode_output(int rank, int stream, std::string_view line);
struct OutputLine {
  int rank = 0;
  int stream = 1;
  std::string line;
};
Result<OutputLine> decode_output(std::span<const std::byte> body);
Result<Bytes> encode_exited(int rank, ExitStatus status);
Result<std::pair<int, ExitStatus>> decode_exited(std::span<const std::byte> body);
inline constexpr std::size_t kTraceChunk = 1u << 20;
inline constexpr std::uint64_t kMaxTraceFile = std::uint64_t{1} << 32;
struct TraceChunk {
  int rank = 0;
  std::uint64_t offset = 0;
  Bytes chunk;
};
Result<Bytes> encode_trace(int rank, std::uint64_t offset, std::span<const std::byte> chunk);
Result<TraceChunk> decode_trace(std::span<const std::byte> body);
Result<Bytes> encode_failed(std::string_view why);
Result<std::string> decode_failed(std::span<const std::byte> body);

}  // namespace nexo::run
