#include "signals.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>

namespace nexo::run {

Result<std::unique_ptr<SignalWatch>> SignalWatch::create(io::EventLoop& loop,
                                                         std::function<void(int)> on_signal) {
  ::signal(SIGPIPE, SIG_IGN);
  // A shell starts background commands with SIGINT ignored, and an ignored signal never reaches
  // a signalfd; an inherited SIG_IGN for SIGCHLD would make the kernel reap the ranks for us.
  // SIGHUP keeps what it inherited (nohup).
  for (int sig : {SIGINT, SIGTERM, SIGCHLD})
    ::signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGINT, SIGTERM, SIGHUP})
    sigaddset(&set, sig);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return Error::from_errno(errno, "sigprocmask");
  net::FileDescriptor fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd) return Error::from_errno(errno, "signalfd");
  auto watch = std::make_unique<SignalWatch>(loop, std::move(fd), std::move(on_signal));
  if (auto r = watch->watcher_.start(io::kReadable); !r) return r.error();
  return watch;
}

void SignalWatch::unblock() noexcept {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGINT, SIGTERM, SIGHUP})
    sigaddset(&set, sig);
  ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
}

SignalWatch::SignalWatch(io::EventLoop& loop, net::FileDescriptor fd,
                         std::function<void(int)> on_signal)
    : fd_(std::move(fd)),
      on_signal_(std::move(on_signal)),
      watcher_(loop, fd_.get(), [this](std::uint32_t) { on_readable(); }) {}

void SignalWatch::on_readable() {
  signalfd_siginfo info;
  while (::read(fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info))
    on_signal_(static_cast<int>(info.ssi_signo));
}

}  // namespace nexo::run
