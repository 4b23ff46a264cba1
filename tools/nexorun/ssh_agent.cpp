#include "ssh_agent.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "nexo/net/endpoint.hpp"
#include "nexo/net/udp_socket.hpp"

namespace nexo::run {

Result<SshProcess> start_ssh(const std::string& host) {
  std::vector<std::string> words;
  {
    const char* ssh = std::getenv("NEXORUN_SSH");
    std::istringstream in(ssh && *ssh ? ssh : "ssh");
    for (std::string w; in >> w;)
      words.push_back(w);
  }
  std::string self;
  if (const char* remote = std::getenv("NEXORUN_REMOTE"); remote && *remote) {
    self = remote;
  } else {
    char path[4096];
    const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
    self = n > 0 ? std::string(path, static_cast<std::size_t>(n)) : "nexorun";
  }
  for (const char* w : {"-o", "BatchMode=yes"})
    words.emplace_back(w);
  words.push_back(host);
  words.push_back(self);
  words.emplace_back("--agent-stdio");
  std::vector<char*> argv;
  for (auto& w : words)
    argv.push_back(w.data());
  argv.push_back(nullptr);

  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe for ssh");
  net::FileDescriptor in_r(in[0]), in_w(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe for ssh");
  net::FileDescriptor out_r(out[0]), out_w(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe for ssh");
  net::FileDescriptor err_r(err[0]), err_w(err[1]);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno(errno, "starting ssh: fork");
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGHUP})
      ::signal(sig, SIG_DFL);
    ::dup2(in_r.get(), 0);
    ::dup2(out_w.get(), 1);
    ::dup2(err_w.get(), 2);
    ::execvp(argv[0], argv.data());
    const char* why = ::strerror(errno);
    (void)!::write(2, argv[0], std::strlen(argv[0]));
    (void)!::write(2, ": ", 2);
    (void)!::write(2, why, std::strlen(why));
    (void)!::write(2, "\n", 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  SshProcess p;
  p.pid = pid;
  p.to = std::move(in_w);
  p.from = std::move(out_r);
  p.err = std::move(err_r);
  return p;
}

Result<net::InetAddress> source_address_toward(const std::string& host) {
  auto peer = net::Endpoint::resolve(host, 9);
  if (!peer) return peer.error();
  auto socket = net::UdpSocket::bind_any(peer->family());
  if (!socket) return socket.error();
  // A connected UDP socket sends nothing: connect only asks the kernel for the route.
  if (auto c = socket->connect(*peer); !c) return c.error();
  return socket->local_endpoint().address();
}

}  // namespace nexo::run
