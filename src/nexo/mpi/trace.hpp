// Tracing of MPI calls (nexorun --trace FILE): every MPI call of a rank with its begin and end,
// peer, tag and bytes, and an arrow from each send to the receive that got it, in the Chrome
// trace-event JSON format (Perfetto, chrome://tracing).
//
// nexorun sets NEXO_MPI_TRACE=PREFIX; MPI_Init turns tracing on, the rank records its calls in
// memory and writes them at MPI_Finalize (or when it aborts) to PREFIX.rank-N.json: a JSON array
// of events, pid = world rank (one row per rank, named "rank N"). nexorun merges the files.
//   - a call is a complete event: {"ph":"X","name":"MPI_Send","ts":µs,"dur":µs,
//     "args":{"peer":world rank,"tag":t,"bytes":n}} (peer -1 when none: collectives, waits);
//   - a message is a flow: "s" inside the send's call, "f" (binding to the enclosing slice) inside
//     the call that completed the receive, with the same id: (sender's world rank + 1) << 40 |
//     the sender's request id.
// Timestamps are CLOCK_REALTIME in microseconds, so ranks of one job line up (on one host
// exactly, across hosts as well as their clocks agree).
//
// Off (one load and a branch per call) unless NEXO_MPI_TRACE is set. Only the outermost MPI call
// is recorded (MPI_Sendrecv, not the sends inside). Not thread-safe, like the runtime.
#pragma once

#include <cstdint>

namespace nexo::mpi {

extern bool g_trace_on;

// Reads NEXO_MPI_TRACE; on when set.
void trace_start(int world_rank);
// Writes PREFIX.rank-N.json (once); tracing stops.
void trace_finish();

// Facts about the current call, for its event: a message sent (peer, tag, bytes, the flow id's
// request) or received (the sender's world rank and request id).
void trace_sent(int peer, int tag, std::uint64_t bytes, std::uint64_t request);
void trace_received(int peer, int tag, std::uint64_t bytes, std::uint64_t sender_request);

class TraceCall {
 public:
  explicit TraceCall(const char* name) noexcept {
    if (g_trace_on) begin(name);
  }
  ~TraceCall() {
    if (active_) end();
  }
  TraceCall(const TraceCall&) = delete;
  TraceCall& operator=(const TraceCall&) = delete;

 private:
  void begin(const char* name) noexcept;
  void end() noexcept;
  bool active_ = false;
};

}  // namespace nexo::mpi
