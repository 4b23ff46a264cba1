#include "job.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "agent_protocol.hpp"
#include "channel.hpp"
#include "launcher.hpp"
#include "nexo/io/timer.hpp"
#include "nexo/net/tcp_listener.hpp"
#include "nexo/net/tcp_stream.hpp"
#include "rank_processes.hpp"
#include "signals.hpp"
#include "ssh_agent.hpp"
#include "trace_merge.hpp"

namespace nexo::run {

void say(const std::string& line) {
  const std::string text = "nexorun: " + line + "\n";
  (void)!::write(2, text.data(), text.size());
}

namespace {

Result<std::string> new_job_id() {
  unsigned char raw[16];
  if (::getrandom(raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw))
    return Error::from_errno(errno, "getrandom for the job id");
  static const char* kHex = "0123456789abcdef";
  std::string id;
  for (unsigned char b : raw) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

std::string this_host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

std::string ranks_phrase(const std::vector<int>& ranks) {
  return (ranks.size() == 1 ? "rank " : "ranks ") + mpi::rank_list(ranks);
}

int Job::run() {
  if (auto r = prepare(); !r) {
    say(r.error().message());
    if (!trace_dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(trace_dir_, ignored);
    }
    return 1;
  }
  if (auto r = start_local(); !r) {
    say(r.error().message());
    fail(1, "the job did not start");
  } else {
    for (auto& a : agents_) {
      auto spec = spec_for(a->host, a->control, "");
      if (auto s = a->channel->send(encode_launch(spec)); !s) {
        fail(1, "sending the job to the agent at " + hosts_[a->host].address + ": " +
                    s.error().message());
      }
    }
  }
  if (options_.timeout) {
    job_timer_ = std::make_unique<io::Timer>(*loop_, [this] {
      fail(124, "job timed out after " + std::to_string(options_.timeout->count()) +
                    " s (--timeout): ending every rank");
    });
    job_timer_->start(*options_.timeout);
  }
  while (!everything_ended() && !gave_up_) {
    loop_->run_once();
    if (!give_up_timer_ && ranks_ended()) arm_give_up();
  }
  init_timer_.reset();
  job_timer_.reset();
  give_up_timer_.reset();
  accept_watcher_.reset();
  for (auto& c : connections_)
    c->channel->close();
  for (auto& a : agents_)
    a->channel->close();
  local_.reset();  // kills and reaps whatever is left (nothing, unless we gave up)
  reap_ssh(true);
  signals_.reset();
  merge_trace();
  return code_;
}

Result<void> Job::prepare() {
  auto loop_signals = SignalWatch::create(*loop_, [this](int s) { on_signal(s); });
  if (!loop_signals) return loop_signals.error();
  signals_ = std::move(*loop_signals);
  auto job = new_job_id();
  if (!job) return job.error();
  job_ = *job;
  hosts_ = options_.hosts;
  // A relative program path, and the files a program opens, mean what they mean here on every
  // host (as under Open MPI): the agents start their ranks in this directory when they have it.
  std::error_code no_cwd;  // a directory removed under us: the agents keep their own
  cwd_ = std::filesystem::current_path(no_cwd).string();
  if (hosts_.empty()) hosts_.push_back(HostSpec{this_host_name(), HostKind::local, "", 1});
  for (std::size_t h = 0; h < hosts_.size(); ++h) {
    if (hosts_[h].kind == HostKind::local) {
      if (local_host_ >= 0)
        return Error(ErrorKind::invalid_argument, "this machine is named twice in the host list");
      local_host_ = static_cast<int>(h);
    }
  }
  if (local_host_ >= 0 && hosts_.size() == 1) hosts_[0].slots = options_.nranks;
  placement_ = place_ranks(options_.nranks, hosts_);
  // The program must be there before anything starts (on this machine; agents check theirs).
  if (local_host_ >= 0 &&
      std::find(placement_.begin(), placement_.end(), local_host_) != placement_.end()) {
    if (auto p = find_program(options_.program); !p) return p.error();
  }
  std::vector<mpi::HelloCollector::Placement> where;
  std::vector<int> local_count(hosts_.size(), 0);
  for (int h : placement_) {
    where.push_back(
        {hosts_[static_cast<std::size_t>(h)].name, local_count[static_cast<std::size_t>(h)]++});
    ranks_.push_back(RankState{h});
  }
  hellos_.emplace(job_, std::move(where));
  if (options_.trace) {
    char dir[] = "/tmp/nexorun-trace-XXXXXX";
    if (::mkdtemp(dir) == nullptr)
      return Error::from_errno(errno, "making a directory for --trace");
    trace_dir_ = dir;
    trace_prefix_ = trace_dir_ + "/trace";
  }
  if (auto r = listen(); !r) return r;
  return connect_agents();
}

Result<void> Job::listen() {
  const bool all_local =
      agents_.empty() && std::all_of(hosts_.begin(), hosts_.end(),
                                     [](const HostSpec& h) { return h.kind == HostKind::local; });
  const auto address = all_local ? net::InetAddress::loopback() : net::InetAddress::any();
  auto listener = net::TcpListener::bind(net::Endpoint(address, options_.port));
  if (!listener) {
    const std::string at = net::Endpoint(address, options_.port).to_string();
    if (listener.error().is(ErrorKind::address_in_use)) {
      return Error(ErrorKind::address_in_use,
                   "cannot listen for the ranks' control connections on " + at +
                       ": the port is taken (choose another --port, or --port 0 for any free one)");
    }
    return std::move(listener).error().with_context("listening for the ranks on " + at);
  }
  if (auto r = listener->set_non_blocking(true); !r) return r;
  listener_.emplace(std::move(*listener));
  accept_watcher_ = std::make_unique<io::IoWatcher>(*loop_, listener_->native_handle(),
                                                    [this](std::uint32_t) { accept_ranks(); });
  return accept_watcher_->start(io::kReadable);
}

LaunchSpec Job::spec_for(int host, std::string control, std::string bind) const {
  LaunchSpec s;
  s.job = job_;
  s.world_size = options_.nranks;
  s.control = std::move(control);
  s.host = hosts_[static_cast<std::size_t>(host)].name;
  s.bind = std::move(bind);
  s.transport = options_.transport;
  s.trace = trace_prefix_;
  s.ring_bytes = options_.ring_bytes;
  s.program = options_.program;
  s.cwd = cwd_;
  s.args = options_.args;
  for (int r = 0; r < options_.nranks; ++r)
    if (placement_[static_cast<std::size_t>(r)] == host) s.ranks.push_back(r);
  return s;
}

Result<void> Job::start_local() {
  if (local_host_ < 0) return ok();
  auto spec = spec_for(local_host_, listener_->local_endpoint().to_string(), local_bind_);
  if (spec.ranks.empty()) return ok();
  if (!listener_->local_endpoint().address().is_loopback()) {
    spec.control = "127.0.0.1:" + std::to_string(listener_->local_endpoint().port());
  }
  local_ = std::make_unique<RankProcesses>(
      *loop_,
      RankProcesses::Events{
          [this](int rank, int stream, std::string_view line) { on_output(rank, stream, line); },
          [this](int rank, ExitStatus status) { on_exit(rank, status); }});
  auto started = local_->start(spec);
  for (auto [rank, pid] : local_->pids())
    ranks_[static_cast<std::size_t>(rank)].pid = pid;
  if (!started) {
    // Ranks that never started count as ended.
    for (int r : spec.ranks) {
      if (local_->pid_of(r) <= 0) ranks_[static_cast<std::size_t>(r)].exited = true;
    }
    return started;
  }
  return ok();
}

void Job::accept_ranks() {
  for (;;) {
    auto stream = listener_->accept();
    if (!stream) return;  // would_block, or out of descriptors (the loop calls again)
    (void)stream->set_no_delay(true);
    auto c = std::make_unique<RankConnection>();
    net::FileDescriptor fd(::dup(stream->native_handle()));
    if (!fd) return;
    c->channel = std::make_unique<Channel>(*loop_, std::move(fd), net::FileDescriptor(),
                                           "rank at " + stream->peer_endpoint().to_string());
    RankConnection& ref = *c;
    connections_.push_back(std::move(c));
    (void)ref.channel->start(
        [this, &ref](mpi::ControlMessage m) { on_rank_message(ref, std::move(m)); },
        [this, &ref](const Error& why) {
          // A rank's connection ends when it exits: its exit status tells the story. A
          // malformed stream is worth a line.
          if (why.is(ErrorKind::malformed)) {
            const std::string who =
                ref.rank >= 0 ? "rank " + std::to_string(ref.rank) : ref.channel->peer();
            if (ref.rank >= 0) {
              fail(1, who + " broke the control protocol: " + why.message());
            } else {
              say("dropped a control connection: " + why.message());
            }
          }
        });
  }
}

void Job::on_rank_message(RankConnection& c, mpi::ControlMessage m) {
  const auto type = static_cast<mpi::ControlType>(m.type);
  if (type == mpi::ControlType::hello && c.rank < 0) return on_hello(c, m.body);
  const std::string who = c.rank >= 0 ? "rank " + std::to_string(c.rank) : c.channel->peer();
  if (c.rank < 0) {
    say("dropped a control connection from " + c.channel->peer() + ": " + mpi::to_string(type) +
        " before HELLO");
    return c.channel->close();
  }
  RankState& state = ranks_[static_cast<std::size_t>(c.rank)];
  switch (type) {
    case mpi::ControlType::finalized:
      if (auto r = mpi::decode_empty(type, m.body); !r) break;
      state.finalized = true;
      (void)c.channel->send(mpi::encode_empty(mpi::ControlType::finalized_ack));
      return;
    case mpi::ControlType::abort: {
      auto a = mpi::decode_abort(m.body);
      if (!a) break;
      (void)c.channel->send(mpi::encode_empty(mpi::ControlType::abort_ack));
      int code = a->errorcode & 0xff;
      if (code == 0) code = 1;
      fail(code, "rank " + std::to_string(c.rank) + " called MPI_Abort(" +
                     std::to_string(a->errorcode) + ")" + (a->why.empty() ? "" : ": " + a->why) +
                     "; ending the job");
      return;
    }
    default:
      break;
  }
  c.channel->close();
  fail(1, who + " sent a bad control message (" + mpi::to_string(type) + ")");
}

void Job::on_hello(RankConnection& c, std::span<const std::byte> body) {
  auto hello = mpi::decode_hello(body);
  Result<void> added = hello ? hellos_->add(*hello) : Result<void>(hello.error());
  if (!added) {
    (void)c.channel->send(mpi::encode_refused(added.error().message()));
    c.channel->close();
    // Another job's rank knocked on the wrong door: not this job's failure.
    if (hello && hello->job != job_) {
      say("refused a rank of another job from " + c.channel->peer());
      return;
    }
    return fail(1, "refused a HELLO: " + added.error().message());
  }
  c.rank = hello->rank;
  // The init timeout counts from the first HELLO: a program that never calls MPI_Init is no MPI
  // job, and a slow start (a loaded machine, a sanitizer) delays every rank alike.
  if (!init_timer_) {
    init_timer_ = std::make_unique<io::Timer>(*loop_, [this] { on_init_timeout(); });
    init_timer_->start(options_.init_timeout);
  }
  RankState& state = ranks_[static_cast<std::size_t>(c.rank)];
  state.hello = true;
  state.pid = hello->pid;
  if (hellos_->complete() && !failed_) {
    auto table = mpi::encode_table(hellos_->table());
    for (auto& conn : connections_) {
      if (conn->rank >= 0 && conn->channel->is_open()) (void)conn->channel->send(table);
    }
    table_sent_ = true;
    if (init_timer_) init_timer_->stop();
  }
  check_startup();
}

void Job::on_output(int rank, int stream, std::string_view line) {
  std::string text;
  if (options_.tag_output) text = "[" + std::to_string(rank) + "] ";
  text.append(line);
  text += '\n';
  const int fd = stream == 2 ? 2 : 1;
  std::string_view rest = text;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // our own output is gone (a closed pipe): keep running the job
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string Job::where(int rank) const {
  const RankState& s = ranks_[static_cast<std::size_t>(rank)];
  std::string out = "rank " + std::to_string(rank) + " (";
  if (s.pid > 0) out += "pid " + std::to_string(s.pid) + " ";
  return out + "on " + hosts_[static_cast<std::size_t>(s.host)].name + ")";
}

void Job::on_exit(int rank, ExitStatus status) {
  RankState& s = ranks_[static_cast<std::size_t>(rank)];
  if (s.exited) return;
  s.exited = true;
  if (failed_) return;  // the teardown's doing
  if (status.signaled) {
    return fail(status.shell_code(), where(rank) + " " + describe(status));
  }
  if (status.value != 0) return fail(status.value, where(rank) + " " + describe(status));
  if (s.hello && !s.finalized) {
    std::string detail = where(rank).substr(where(rank).find('(') + 1);
    detail.pop_back();  // the ')'
    return fail(1, "rank " + std::to_string(rank) + " exited without MPI_Finalize (" + detail +
                       "; it exited with status 0 after MPI_Init)");
  }
  check_startup();
}

// A job whose ranks have begun MPI_Init cannot start once a rank ended without it.
void Job::check_startup() {
  if (failed_ || table_sent_) return;
  std::vector<int> gone, waiting;
  for (int r = 0; r < options_.nranks; ++r) {
    const RankState& s = ranks_[static_cast<std::size_t>(r)];
    if (s.hello) waiting.push_back(r);
    if (s.exited && !s.hello) gone.push_back(r);
  }
  if (waiting.empty() || gone.empty()) return;
  fail(1, ranks_phrase(gone) + " ended without calling MPI_Init, while " + ranks_phrase(waiting) +
              " waited for " + (gone.size() == 1 ? "it" : "them") + " in MPI_Init");
}

void Job::on_init_timeout() {
  if (failed_ || table_sent_) return;
  std::vector<int> missing;
  bool any = false;
  for (int r = 0; r < options_.nranks; ++r) {
    const RankState& s = ranks_[static_cast<std::size_t>(r)];
    if (s.hello) any = true;
    if (!s.hello && !s.exited) missing.push_back(r);
  }
  // No rank began MPI: a program that does not use it (nexorun -n 2 hostname) runs on.
  if (!any || missing.empty()) return;
  fail(1, ranks_phrase(missing) + " did not start MPI within " +
              std::to_string(options_.init_timeout.count()) +
              " s (no MPI_Init since the first rank's; ranks " + mpi::rank_list([&] {
                std::vector<int> in;
                for (int r = 0; r < options_.nranks; ++r)
                  if (ranks_[static_cast<std::size_t>(r)].hello) in.push_back(r);
                return in;
              }()) +
              " did): ending the job (raise --init-timeout if startup is slow)");
}

void Job::on_signal(int signal) {
  if (signal == SIGCHLD) {
    if (local_) local_->reap();
    reap_ssh(false);
    return;
  }
  if (failed_ && (signal == SIGINT || signal == SIGTERM)) {
    // A second interrupt: no more grace.
    if (local_) local_->terminate(std::chrono::milliseconds(0));
    say("interrupted again: killing every rank now");
    if (local_) {
      for (auto [rank, pid] : local_->pids())
        ::kill(-pid, SIGKILL);
    }
    return;
  }
  const char* name = signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "SIGHUP";
  fail(128 + signal, std::string("interrupted (") + name + "): ending every rank");
}

void Job::fail(int code, const std::string& message) {
  if (failed_) return;
  failed_ = true;
  code_ = code;
  say(message);
  if (init_timer_) init_timer_->stop();
  if (job_timer_) job_timer_->stop();
  if (local_) local_->terminate(kGrace);
  for (auto& a : agents_) {
    if (!a->closed)
      (void)a->channel->send(mpi::encode_empty(static_cast<mpi::ControlType>(AgentType::kill)));
  }
  // Connections to ranks close, so ranks blocked on them (in MPI_Init) wake up.
  for (auto& c : connections_)
    c->channel->close();
  arm_give_up();
}

bool Job::ranks_ended() const {
  for (const auto& s : ranks_)
    if (!s.exited) return false;
  return true;
}

// A backstop: an agent that never reports its ranks' end, or never closes, does not hold the
// launcher for ever.
void Job::arm_give_up() {
  if (give_up_timer_) return;
  give_up_timer_ = std::make_unique<io::Timer>(*loop_, [this] {
    say("gave up waiting for the agents to end their ranks and close");
    gave_up_ = true;
  });
  give_up_timer_->start(kGrace + std::chrono::seconds(10));
}

// Every rank ended, and every agent closed its connection (after its last messages: traces).
bool Job::everything_ended() const {
  for (const auto& s : ranks_)
    if (!s.exited) return false;
  for (const auto& a : agents_)
    if (!a->closed) return false;
  return true;
}

void Job::merge_trace() {
  if (!options_.trace) return;
  auto merged = merge_traces(trace_prefix_, options_.nranks, *options_.trace);
  if (!merged) {
    say("--trace: " + merged.error().message());
  } else {
    for (const auto& w : merged->warnings)
      say("--trace: " + w);
  }
  std::error_code ignored;
  std::filesystem::remove_all(trace_dir_, ignored);
}

int run_launcher(const Options& options) {
  auto loop = io::EventLoop::create();
  if (!loop) {
    say(loop.error().message());
    return 1;
  }
  Job job(options, std::move(*loop));
  return job.run();
}

}  // namespace nexo::run
