// The hosts of a job whose ranks an agent starts: `nexorun --agent` reached at agent://IP:PORT,
// or `nexorun --agent-stdio` started through ssh (ssh_agent.hpp); agent_protocol.hpp has what
// they say to each other.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "job.hpp"
#include "nexo/net/tcp_stream.hpp"
#include "ssh_agent.hpp"
#include "trace_merge.hpp"

namespace nexo::run {

Result<void> Job::connect_agents() {
  for (std::size_t h = 0; h < hosts_.size(); ++h) {
    if (hosts_[h].kind == HostKind::local) continue;
    if (std::find(placement_.begin(), placement_.end(), static_cast<int>(h)) == placement_.end())
      continue;  // no rank there
    if (hosts_[h].kind == HostKind::ssh) {
      if (auto r = start_ssh_agent(static_cast<int>(h)); !r) return r;
      continue;
    }
    const std::string& at = hosts_[h].address;
    auto hp = mpi::split_host_port(at);
    if (!hp) return hp.error();
    auto stream = net::TcpStream::connect(hp->host, hp->port, kAgentConnectTimeout);
    if (!stream) {
      return Error(stream.error().kind(), "cannot reach the agent at " + at + ": " +
                                              stream.error().message() +
                                              " (is `nexorun --agent --listen " + at +
                                              "` running there, and the "
                                              "address reachable from here?)");
    }
    // Ranks there reach the launcher at the address this connection leaves from.
    if (local_bind_ == "127.0.0.1") local_bind_ = stream->local_endpoint().address().to_string();
    auto link = std::make_unique<AgentLink>();
    link->host = static_cast<int>(h);
    link->control =
        net::Endpoint(stream->local_endpoint().address(), listener_->local_endpoint().port())
            .to_string();
    net::FileDescriptor fd(::dup(stream->native_handle()));
    if (!fd) return Error::from_errno(errno, "dup");
    link->channel = std::make_unique<Channel>(*loop_, std::move(fd), net::FileDescriptor(),
                                              "the agent at " + at);
    if (auto r = add_agent(static_cast<int>(h), std::move(link)); !r) return r;
  }
  return ok();
}

Result<void> Job::add_agent(int host, std::unique_ptr<AgentLink> link) {
  link->host = host;
  AgentLink& ref = *link;
  agents_.push_back(std::move(link));
  return ref.channel->start(
      [this, &ref](mpi::ControlMessage m) { on_agent_message(ref, std::move(m)); },
      [this, &ref](const Error& why) { on_agent_closed(ref, why); });
}

Result<void> Job::start_ssh_agent(int host) {
  const std::string& name = hosts_[static_cast<std::size_t>(host)].address;
  auto source = source_address_toward(name);
  if (!source) {
    return Error(source.error().kind(), "host '" + name + "': " + source.error().message() +
                                            " (check the name in --host or the hostfile)");
  }
  if (local_bind_ == "127.0.0.1") local_bind_ = source->to_string();
  auto ssh = start_ssh(name);
  if (!ssh) return std::move(ssh).error().with_context("host '" + name + "'");
  auto link = std::make_unique<AgentLink>();
  link->control = net::Endpoint(*source, listener_->local_endpoint().port()).to_string();
  link->ssh_pid = ssh->pid;
  link->ssh_err = std::move(ssh->err);
  ::fcntl(link->ssh_err.get(), F_SETFL, O_NONBLOCK);
  link->channel = std::make_unique<Channel>(*loop_, std::move(ssh->from), std::move(ssh->to),
                                            "the agent on " + name + " (through ssh)");
  AgentLink& ref = *link;
  ref.err_watcher = std::make_unique<io::IoWatcher>(
      *loop_, ref.ssh_err.get(), [this, &ref](std::uint32_t) { read_ssh_stderr(ref, false); });
  if (auto r = ref.err_watcher->start(io::kReadable); !r) return r;
  return add_agent(host, std::move(link));
}

void Job::read_ssh_stderr(AgentLink& a, bool final) {
  if (!a.ssh_err) return;
  const std::string& name = hosts_[static_cast<std::size_t>(a.host)].name;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(a.ssh_err.get(), buf, sizeof buf);
    if (n > 0) {
      a.err_partial.append(buf, static_cast<std::size_t>(n));
      for (auto nl = a.err_partial.find('\n'); nl != std::string::npos;
           nl = a.err_partial.find('\n')) {
        std::string line = a.err_partial.substr(0, nl);
        a.err_partial.erase(0, nl + 1);
        if (line.empty()) continue;
        if (a.started) say("ssh " + name + ": " + line);
        a.last_err_line = std::move(line);
      }
      if (a.err_partial.size() > 4096) a.err_partial.clear();
      if (!final) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
      a.err_watcher.reset();
      a.ssh_err.reset();
    }
    return;
  }
}

void Job::reap_ssh(bool wait) {
  for (auto& a : agents_) {
    if (a->ssh_pid <= 0) continue;
    if (wait) ::kill(-a->ssh_pid, SIGTERM);
    int status = 0;
    if (::waitpid(a->ssh_pid, &status, wait ? 0 : WNOHANG) == a->ssh_pid) a->ssh_pid = -1;
  }
}

void Job::on_agent_message(AgentLink& a, mpi::ControlMessage m) {
  const auto type = static_cast<AgentType>(m.type);
  const std::string& at = hosts_[static_cast<std::size_t>(a.host)].address;
  switch (type) {
    case AgentType::started: {
      auto pids = decode_started(m.body);
      if (!pids) break;
      a.started = true;
      for (auto [rank, pid] : *pids) {
        if (rank >= 0 && rank < options_.nranks &&
            placement_[static_cast<std::size_t>(rank)] == a.host)
          ranks_[static_cast<std::size_t>(rank)].pid = pid;
      }
      return;
    }
    case AgentType::output: {
      auto o = decode_output(m.body);
      if (!o || o->rank < 0 || o->rank >= options_.nranks) break;
      return on_output(o->rank, o->stream, o->line);
    }
    case AgentType::exited: {
      auto e = decode_exited(m.body);
      if (!e || e->first < 0 || e->first >= options_.nranks ||
          placement_[static_cast<std::size_t>(e->first)] != a.host)
        break;
      return on_exit(e->first, e->second);
    }
    case AgentType::trace: {
      auto t = decode_trace(m.body);
      if (!t || t->rank >= options_.nranks ||
          placement_[static_cast<std::size_t>(t->rank)] != a.host || trace_prefix_.empty())
        break;
      return write_trace_chunk(*t);
    }
    case AgentType::failed: {
      auto why = decode_failed(m.body);
      if (!why) break;
      a.started = true;
      return fail(1, "the agent at " + at + " could not start its ranks: " + *why);
    }
    default:
      break;
  }
  a.channel->close();
  on_agent_closed(
      a, Error(ErrorKind::malformed, "a bad message (type " + std::to_string(m.type) + ")"));
}

void Job::on_agent_closed(AgentLink& a, const Error& why) {
  if (a.closed) return;
  a.closed = true;
  const std::string& name = hosts_[static_cast<std::size_t>(a.host)].name;
  if (a.ssh_pid > 0 || a.err_watcher) {
    read_ssh_stderr(a, true);
    if (!a.started) {
      for (int r = 0; r < options_.nranks; ++r) {
        if (ranks_[static_cast<std::size_t>(r)].host == a.host)
          ranks_[static_cast<std::size_t>(r)].exited = true;
      }
      return fail(1, "cannot reach host " + name + " through ssh: " +
                         (a.last_err_line.empty() ? why.message() : a.last_err_line) +
                         " (nexorun starts the ranks there with `ssh -o BatchMode=yes " + name +
                         " nexorun --agent-stdio`: it needs a login without password, e.g. "
                         "ssh-copy-id " +
                         name +
                         ", and nexorun at the same path there, or "
                         "NEXORUN_REMOTE; or start `nexorun --agent --listen IP:PORT` there and "
                         "name it agent://IP:PORT)");
    }
  }
  std::vector<int> lost;
  for (int r = 0; r < options_.nranks; ++r) {
    RankState& s = ranks_[static_cast<std::size_t>(r)];
    if (s.host == a.host && !s.exited) {
      s.exited = true;
      lost.push_back(r);
    }
  }
  if (!lost.empty()) {
    fail(1, "lost the agent at " + hosts_[static_cast<std::size_t>(a.host)].address + " (" +
                why.message() + "); its " + ranks_phrase(lost) + " are ended");
  }
}

void Job::write_trace_chunk(const TraceChunk& t) {
  const std::string path = trace_file(trace_prefix_, t.rank);
  net::FileDescriptor fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  if (!fd || ::pwrite(fd.get(), t.chunk.data(), t.chunk.size(), static_cast<off_t>(t.offset)) !=
                 static_cast<ssize_t>(t.chunk.size())) {
    say("--trace: writing " + path + ": " + std::strerror(errno));
  }
}

}  // namespace nexo::run
