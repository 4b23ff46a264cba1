#include "nexo/mpi/trace.hpp"

#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace nexo::mpi {

bool g_trace_on = false;

namespace {

struct Flow {
  bool out = false;  // "s" (a send) or "f" (a receive)
  std::uint64_t id = 0;
  double ts = 0;
};

struct Event {
  const char* name = "";
  double begin = 0;
  double end = 0;
  int peer = -1;
  int tag = -1;
  std::uint64_t bytes = 0;
  std::size_t first_flow = 0;  // flows_[first_flow, flows_end)
  std::size_t flows_end = 0;
};

// A trace beyond this many calls keeps the first ones and counts the rest.
constexpr std::size_t kMaxEvents = std::size_t{4} << 20;

std::string g_path;
int g_rank = 0;
int g_depth = 0;  // MPI calls in progress (only the outermost is recorded)
std::vector<Event> g_events;
std::vector<Flow> g_flows;
std::uint64_t g_dropped = 0;
bool g_recording = false;  // the outermost call is being recorded

double now_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

std::uint64_t flow_id(int sender, std::uint64_t request) {
  return (static_cast<std::uint64_t>(sender) + 1) << 40 |
         (request & ((std::uint64_t{1} << 40) - 1));
}

}  // namespace

void trace_start(int world_rank) {
  const char* prefix = std::getenv("NEXO_MPI_TRACE");
  if (prefix == nullptr || *prefix == '\0') return;
  g_path = std::string(prefix) + ".rank-" + std::to_string(world_rank) + ".json";
  g_rank = world_rank;
  g_trace_on = true;
}

void TraceCall::begin(const char* name) noexcept {
  if (g_depth++ > 0) return;
  active_ = true;
  if (g_events.size() >= kMaxEvents) {
    ++g_dropped;
    return;
  }
  g_recording = true;
  Event e;
  e.name = name;
  e.begin = now_us();
  e.first_flow = e.flows_end = g_flows.size();
  g_events.push_back(e);
}

void TraceCall::end() noexcept {
  --g_depth;
  if (!g_recording) return;
  g_recording = false;
  Event& e = g_events.back();
  e.end = now_us();
  e.flows_end = g_flows.size();
}

void trace_sent(int peer, int tag, std::uint64_t bytes, std::uint64_t request) {
  if (!g_recording) return;
  Event& e = g_events.back();
  e.peer = peer;
  e.tag = tag;
  e.bytes += bytes;
  g_flows.push_back({true, flow_id(g_rank, request), now_us()});
}

void trace_received(int peer, int tag, std::uint64_t bytes, std::uint64_t sender_request) {
  if (!g_recording) return;
  Event& e = g_events.back();
  if (e.peer < 0) {
    e.peer = peer;
    e.tag = tag;
  }
  e.bytes += bytes;
  g_flows.push_back({false, flow_id(peer, sender_request), now_us()});
}

void trace_finish() {
  if (!g_trace_on) return;
  g_trace_on = false;
  std::FILE* out = std::fopen(g_path.c_str(), "w");
  if (out == nullptr) {
    std::fprintf(stderr, "nexo MPI: rank %d: cannot write the trace %s\n", g_rank, g_path.c_str());
    return;
  }
  std::fprintf(out,
               "[\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,"
               "\"args\":{\"name\":\"rank %d\"}},\n"
               "{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,"
               "\"args\":{\"sort_index\":%d}}",
               g_rank, g_rank, g_rank, g_rank);
  for (const Event& e : g_events) {
    if (e.end == 0) continue;  // the call never returned (MPI_Abort, a fatal error)
    std::fprintf(out,
                 ",\n{\"name\":\"%s\",\"cat\":\"mpi\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,"
                 "\"pid\":%d,\"tid\":0,\"args\":{\"peer\":%d,\"tag\":%d,\"bytes\":%llu}}",
                 e.name, e.begin, e.end - e.begin, g_rank, e.peer, e.tag,
                 static_cast<unsigned long long>(e.bytes));
    for (std::size_t i = e.first_flow; i < e.flows_end; ++i) {
      const Flow& f = g_flows[i];
      // A flow event binds to the slice that encloses it: keep it strictly inside.
      const double ts = f.ts < e.end ? f.ts : e.end;
      std::fprintf(out,
                   ",\n{\"name\":\"message\",\"cat\":\"mpi\",\"ph\":\"%s\",\"id\":%llu,"
                   "\"ts\":%.3f,\"pid\":%d,\"tid\":0%s}",
                   f.out ? "s" : "f", static_cast<unsigned long long>(f.id), ts, g_rank,
                   f.out ? "" : ",\"bp\":\"e\"");
    }
  }
  if (g_dropped > 0) {
    std::fprintf(out,
                 ",\n{\"name\":\"trace truncated: %llu calls not recorded\",\"ph\":\"i\","
                 "\"s\":\"p\",\"ts\":%.3f,\"pid\":%d,\"tid\":0}",
                 static_cast<unsigned long long>(g_dropped), now_us(), g_rank);
  }
  std::fprintf(out, "\n]\n");
  std::fclose(out);
  g_events.clear();
  g_flows.clear();
}

}  // namespace nexo::mpi
