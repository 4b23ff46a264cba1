#include "agent_protocol.hpp"

namespace nexo::run {
namespace {

constexpr std::size_t kMaxPath = 4096;

mpi::ControlWriter writer(AgentType type) {
  return mpi::ControlWriter(static_cast<std::uint8_t>(type));
}

// Assigns a successful Result's value to `out`, or returns its error from the caller.
#define NEXO_TRY_ASSIGN(out, expr)        \
  do {                                    \
    auto nexo_r_ = (expr);                \
    if (!nexo_r_) return nexo_r_.error(); \
    out = std::move(*nexo_r_);            \
  } while (0)

}  // namespace

Result<Bytes> encode_launch(const LaunchSpec& s) {
  auto w = writer(AgentType::launch);
  w.str(s.job, 32)
      .u32(static_cast<std::uint32_t>(s.world_size))
      .str(s.control, mpi::kMaxAddressText)
      .str(s.host, mpi::kMaxHostName)
      .str(s.bind, mpi::kMaxAddressText)
      .u8(static_cast<std::uint8_t>(s.transport))
      .str(s.trace, kMaxPath)
      .u64(s.ring_bytes)
      .str(s.program, kMaxPath)
      .str(s.cwd, kMaxPath)
      .u32(static_cast<std::uint32_t>(s.args.size()));
  for (const auto& a : s.args)
    w.str(a, kMaxArg);
  w.u32(static_cast<std::uint32_t>(s.ranks.size()));
  for (int r : s.ranks)
    w.u32(static_cast<std::uint32_t>(r));
  return w.finish();
}

Result<LaunchSpec> decode_launch(std::span<const std::byte> body) {
  mpi::ControlReader r(body, "LAUNCH");
  LaunchSpec s;
  NEXO_TRY_ASSIGN(s.job, r.str("job", 32));
  if (!mpi::is_job_id(s.job)) return r.malformed("job", "not 32 lowercase hex digits");
  std::uint32_t size = 0;
  NEXO_TRY_ASSIGN(size, r.u32("world_size"));
  if (size < 1 || size > mpi::kMaxWorldSize) return r.malformed("world_size", "not in 1..4096");
  s.world_size = static_cast<int>(size);
  NEXO_TRY_ASSIGN(s.control, r.str("control", mpi::kMaxAddressText));
  NEXO_TRY_ASSIGN(s.host, r.str("host", mpi::kMaxHostName));
  NEXO_TRY_ASSIGN(s.bind, r.str("bind", mpi::kMaxAddressText));
  std::uint8_t transport = 0;
  NEXO_TRY_ASSIGN(transport, r.u8("transport"));
  if (transport > 1) return r.malformed("transport", "not 0 (auto) or 1 (tcp)");
  s.transport = static_cast<mpi::RankTransport>(transport);
  NEXO_TRY_ASSIGN(s.trace, r.str("trace", kMaxPath));
  std::uint64_t ring = 0;
  NEXO_TRY_ASSIGN(ring, r.u64("ring_bytes"));
  if (ring > (std::uint64_t{1} << 30)) return r.malformed("ring_bytes", "over 1 GiB");
  s.ring_bytes = static_cast<std::size_t>(ring);
  NEXO_TRY_ASSIGN(s.program, r.str("program", kMaxPath));
  if (s.program.empty()) return r.malformed("program", "empty");
  NEXO_TRY_ASSIGN(s.cwd, r.str("cwd", kMaxPath));
  if (!s.cwd.empty() && s.cwd.front() != '/') return r.malformed("cwd", "not an absolute path");
  std::uint32_t nargs = 0;
  NEXO_TRY_ASSIGN(nargs, r.u32("args"));
  if (nargs > kMaxArgs) return r.malformed("args", "more than 4096");
  for (std::uint32_t i = 0; i < nargs; ++i) {
    std::string a;
    NEXO_TRY_ASSIGN(a, r.str("arg", kMaxArg));
    s.args.push_back(std::move(a));
  }
  std::uint32_t nranks = 0;
  NEXO_TRY_ASSIGN(nranks, r.u32("ranks"));
  if (nranks < 1 || nranks > size) return r.malformed("ranks", "not in 1..world_size");
  for (std::uint32_t i = 0; i < nranks; ++i) {
    std::uint32_t rank = 0;
    NEXO_TRY_ASSIGN(rank, r.u32("rank"));
    if (rank >= size) return r.malformed("rank", std::to_string(rank) + " >= world_size");
    s.ranks.push_back(static_cast<int>(rank));
  }
  if (auto e = r.end(); !e) return e.error();
  return s;
}

Result<Bytes> encode_started(const std::vector<std::pair<int, pid_t>>& pids) {
  auto w = writer(AgentType::started);
  w.u32(static_cast<std::uint32_t>(pids.size()));
  for (auto [rank, pid] : pids)
    w.u32(static_cast<std::uint32_t>(rank)).u32(static_cast<std::uint32_t>(pid));
  return w.finish();
}

Result<std::vector<std::pair<int, pid_t>>> decode_started(std::span<const std::byte> body) {
  mpi::ControlReader r(body, "STARTED");
  std::uint32_t n = 0;
  NEXO_TRY_ASSIGN(n, r.u32("count"));
  if (n > mpi::kMaxWorldSize) return r.malformed("count", "over 4096");
  std::vector<std::pair<int, pid_t>> out;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint32_t rank = 0, pid = 0;
    NEXO_TRY_ASSIGN(rank, r.u32("rank"));
    NEXO_TRY_ASSIGN(pid, r.u32("pid"));
    out.emplace_back(static_cast<int>(rank), static_cast<pid_t>(pid));
  }
  if (auto e = r.end(); !e) return e.error();
  return out;
}

Result<Bytes> encode_output(int rank, int stream, std::string_view line) {
  auto w = writer(AgentType::output);
  w.u32(static_cast<std::uint32_t>(rank))
      .u8(static_cast<std::uint8_t>(stream))
      .bytes(as_bytes(line));
  return w.finish();
}

Result<OutputLine> decode_output(std::span<const std::byte> body) {
  mpi::ControlReader r(body, "OUTPUT");
  OutputLine o;
  std::uint32_t rank = 0;
  NEXO_TRY_ASSIGN(rank, r.u32("rank"));
  o.rank = static_cast<int>(rank);
  std::uint8_t stream = 0;
  NEXO_TRY_ASSIGN(stream, r.u8("stream"));
  if (stream != 1 && stream != 2) return r.malformed("stream", "not 1 or 2");
  o.stream = stream;
  Bytes line;
  NEXO_TRY_ASSIGN(line, r.bytes("line", 1 << 20));
  o.line.assign(as_text(line));
  if (auto e = r.end(); !e) return e.error();
  return o;
}

Result<Bytes> encode_exited(int rank, ExitStatus status) {
  auto w = writer(AgentType::exited);
  w.u32(static_cast<std::uint32_t>(rank))
      .u8(status.signaled ? 1 : 0)
      .u32(static_cast<std::uint32_t>(status.value));
  return w.finish();
}

Result<std::pair<int, ExitStatus>> decode_exited(std::span<const std::byte> body) {
  mpi::ControlReader r(body, "EXITED");
  std::uint32_t rank = 0, value = 0;
  std::uint8_t signaled = 0;
  NEXO_TRY_ASSIGN(rank, r.u32("rank"));
  NEXO_TRY_ASSIGN(signaled, r.u8("signaled"));
  NEXO_TRY_ASSIGN(value, r.u32("value"));
  if (signaled > 1 || value > 255) return r.malformed("status", "out of range");
  if (auto e = r.end(); !e) return e.error();
  return std::pair<int, ExitStatus>(static_cast<int>(rank),
                                    ExitStatus{signaled == 1, static_cast<int>(value)});
}

Result<Bytes> encode_trace(int rank, std::uint64_t offset, std::span<const std::byte> chunk) {
  auto w = writer(AgentType::trace);
  w.u32(static_cast<std::uint32_t>(rank)).u64(offset).bytes(chunk);
  return w.finish();
}

Result<TraceChunk> decode_trace(std::span<const std::byte> body) {
  mpi::ControlReader r(body, "TRACE");
  TraceChunk t;
  std::uint32_t rank = 0;
  NEXO_TRY_ASSIGN(rank, r.u32("rank"));
  if (rank >= mpi::kMaxWorldSize) return r.malformed("rank", "over 4096");
  t.rank = static_cast<int>(rank);
  NEXO_TRY_ASSIGN(t.offset, r.u64("offset"));
  NEXO_TRY_ASSIGN(t.chunk, r.bytes("chunk", kTraceChunk));
  if (t.offset > kMaxTraceFile || t.chunk.size() > kMaxTraceFile - t.offset)
    return r.malformed("offset", "past the 4 GiB limit of a trace file");
  if (auto e = r.end(); !e) return e.error();
  return t;
}

Result<Bytes> encode_failed(std::string_view why) {
  auto w = writer(AgentType::failed);
  w.str(why.substr(0, 4000), 4000);
  return w.finish();
}

Result<std::string> decode_failed(std::span<const std::byte> body) {
  mpi::ControlReader r(body, "FAILED");
  std::string why;
  NEXO_TRY_ASSIGN(why, r.str("why", 4000));
  if (auto e = r.end(); !e) return e.error();
  return why;
}

}  // namespace nexo::run
