// nexorun --agent: starts the ranks of this host for a launcher on another (or, in tests, on
// another loopback address), forwards their output and exit statuses, and ends them when the
// launcher says KILL or its connection drops. agent_protocol.hpp has the messages.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent_protocol.hpp"
#include "channel.hpp"
#include "launcher.hpp"
#include "nexo/net/tcp_listener.hpp"
#include "rank_processes.hpp"
#include "signals.hpp"
#include "trace_merge.hpp"

namespace nexo::run {
namespace {

constexpr std::chrono::milliseconds kGrace{3000};

void say(const std::string& line) {
  const std::string text = "nexorun agent: " + line + "\n";
  (void)!::write(2, text.data(), text.size());
}

// One job: from the launcher's LAUNCH until every rank ended and was reported.
class AgentJob {
 public:
  AgentJob(io::EventLoop& loop, std::unique_ptr<Channel> channel, std::string default_bind)
      : loop_(loop), channel_(std::move(channel)), default_bind_(std::move(default_bind)) {}

  // Runs the job; returns false when the agent itself was told to stop (SIGINT/SIGTERM).
  bool run() {
    auto signals = SignalWatch::create(loop_, [this](int s) { on_signal(s); });
    if (!signals) {
      say(signals.error().message());
      return false;
    }
    signals_ = std::move(*signals);
    auto started = channel_->start([this](mpi::ControlMessage m) { on_message(std::move(m)); },
                                   [this](const Error& why) { on_closed(why); });
    if (!started) {
      say(started.error().message());
      return true;
    }
    while (!done_)
      loop_.run_once();
    ranks_.reset();
    channel_->close();
    signals_.reset();
    // Between jobs an agent waits in accept(): SIGTERM / SIGINT end it there at once.
    SignalWatch::unblock();
    return !stop_agent_;
  }

 private:
  void on_message(mpi::ControlMessage m) {
    const auto type = static_cast<AgentType>(m.type);
    if (type == AgentType::launch && !ranks_) return launch(m.body);
    if (type == AgentType::kill) return end_ranks();
    say("a bad message from " + channel_->peer() + " (type " + std::to_string(m.type) +
        "): ending its job");
    channel_->close();
    on_closed(Error(ErrorKind::malformed, "bad message"));
  }

  void launch(std::span<const std::byte> body) {
    auto spec = decode_launch(body);
    if (!spec) {
      (void)channel_->send(encode_failed(spec.error().message()));
      done_ = true;
      return;
    }
    if (spec->bind.empty()) spec->bind = default_bind_;
    // The launcher's directory where this host has it (a shared file system), else ours (under
    // ssh: the home directory), as Open MPI does.
    std::string cwd_note;
    if (std::error_code ec; !spec->cwd.empty() && !std::filesystem::is_directory(spec->cwd, ec)) {
      cwd_note = " (the launcher's directory " + spec->cwd + " is not on this host: the ranks " +
                 "start in " + std::filesystem::current_path(ec).string() + ")";
      spec->cwd.clear();
    }
    prepare_trace(*spec);
    ranks_ = std::make_unique<RankProcesses>(
        loop_, RankProcesses::Events{[this](int rank, int stream, std::string_view line) {
                                       (void)channel_->send(encode_output(rank, stream, line));
                                     },
                                     [this](int rank, ExitStatus status) {
                                       (void)channel_->send(encode_exited(rank, status));
                                       if (ranks_->all_exited()) finish();
                                     }});
    char self[256] = {};
    ::gethostname(self, sizeof self - 1);
    if (auto r = ranks_->start(*spec); !r) {
      (void)channel_->send(
          encode_failed(std::string("on ") + self + ": " + r.error().message() + cwd_note));
      // Whatever started is ending; its exits are reported as they come.
      if (ranks_->all_exited()) finish();
      return;
    }
    (void)channel_->send(encode_started(ranks_->pids()));
  }

  // The launcher's trace directory is on its machine: where it is not here, the ranks write
  // into one made here, and their files travel back in TRACE messages at the end.
  void prepare_trace(const LaunchSpec& spec) {
    if (spec.trace.empty()) return;
    const std::filesystem::path dir = std::filesystem::path(spec.trace).parent_path();
    std::error_code ec;
    if (dir.empty() || std::filesystem::exists(dir, ec)) return;
    if (!std::filesystem::create_directories(dir, ec)) {
      say("--trace: cannot make " + dir.string() + ": " + ec.message());
      return;
    }
    trace_dir_ = dir.string();
    trace_prefix_ = spec.trace;
    trace_ranks_ = spec.ranks;
  }

  void send_traces() {
    if (trace_dir_.empty()) return;
    for (int rank : trace_ranks_) {
      std::ifstream in(trace_file(trace_prefix_, rank), std::ios::binary);
      std::uint64_t offset = 0;
      std::vector<char> buf(kTraceChunk);
      while (in && offset < kMaxTraceFile) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        const auto n = static_cast<std::size_t>(in.gcount());
        if (n == 0) break;
        auto sent = channel_->send(
            encode_trace(rank, offset, std::as_bytes(std::span<const char>(buf.data(), n))));
        if (!sent) return;
        offset += n;
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(trace_dir_, ec);
  }

  void finish() {
    send_traces();
    done_ = true;
  }

  void end_ranks() {
    if (!ranks_ || ranks_->all_exited()) {
      done_ = true;
      return;
    }
    ranks_->terminate(kGrace);
  }

  void on_closed(const Error& why) {
    if (!why.is(ErrorKind::closed)) say(channel_->peer() + ": " + why.message());
    end_ranks();
  }

  void on_signal(int signal) {
    if (signal == SIGCHLD) {
      if (ranks_) ranks_->reap();
      return;
    }
    stop_agent_ = true;
    end_ranks();
  }

  io::EventLoop& loop_;
  std::unique_ptr<Channel> channel_;
  std::string default_bind_;
  std::unique_ptr<SignalWatch> signals_;
  std::unique_ptr<RankProcesses> ranks_;
  bool done_ = false;
  bool stop_agent_ = false;
  std::string trace_dir_, trace_prefix_;
  std::vector<int> trace_ranks_;
};

int serve_stdio() {
  auto loop = io::EventLoop::create();
  if (!loop) {
    say(loop.error().message());
    return 1;
  }
  net::FileDescriptor in(::dup(0)), out(::dup(1));
  if (!in || !out) {
    say("dup of stdin/stdout failed");
    return 1;
  }
  // The ranks' output travels in messages: nothing else may write to our stdout.
  const int null_fd = ::open("/dev/null", O_WRONLY);
  if (null_fd >= 0) {
    ::dup2(null_fd, 1);
    ::close(null_fd);
  }
  // Under ssh the ranks listen on the address the launcher's host reached this one at.
  std::string bind = "127.0.0.1";
  if (const char* ssh = std::getenv("SSH_CONNECTION"); ssh != nullptr) {
    std::istringstream words(ssh);
    std::string client, client_port, server;
    if (words >> client >> client_port >> server && net::InetAddress::parse(server)) bind = server;
  }
  AgentJob job(**loop,
               std::make_unique<Channel>(**loop, std::move(in), std::move(out), "the launcher"),
               bind);
  job.run();
  return 0;
}

int serve_listener(const std::string& listen) {
  auto hp = mpi::split_host_port(listen);
  auto address = hp ? net::InetAddress::parse(hp->host) : Result<net::InetAddress>(hp.error());
  std::uint16_t port = 0;
  if (!hp && listen.ends_with(":0")) {
    // split_host_port refuses port 0, which means "any free port" here.
    address = net::InetAddress::parse(listen.substr(0, listen.size() - 2));
  } else if (hp) {
    port = hp->port;
  }
  if (!address) {
    say("--listen '" + listen + "': expected IP:PORT, e.g. 127.0.0.2:4000 (port 0: any)");
    return 2;
  }
  auto listener = net::TcpListener::bind(net::Endpoint(*address, port));
  if (!listener) {
    if (listener.error().is(ErrorKind::address_in_use)) {
      say("cannot listen on " + listen +
          ": the port is taken (another agent running? choose another port)");
    } else {
      say("cannot listen on " + listen + ": " + listener.error().message() +
          " (is the address one of this host's?)");
    }
    return 1;
  }
  say("listening on " + listener->local_endpoint().to_string());
  for (;;) {
    auto stream = listener->accept();
    if (!stream) {
      say("accept: " + stream.error().message());
      continue;
    }
    auto loop = io::EventLoop::create();
    if (!loop) {
      say(loop.error().message());
      return 1;
    }
    net::FileDescriptor fd(::dup(stream->native_handle()));
    const std::string peer = "the launcher at " + stream->peer_endpoint().to_string();
    const std::string bind = stream->local_endpoint().address().to_string();
    stream->close();
    AgentJob job(**loop,
                 std::make_unique<Channel>(**loop, std::move(fd), net::FileDescriptor(), peer),
                 bind);
    if (!job.run()) return 0;
  }
}

}  // namespace

int run_agent(const Options& options) {
  if (options.mode == Mode::agent_stdio) return serve_stdio();
  return serve_listener(options.agent_listen);
}

}  // namespace nexo::run
