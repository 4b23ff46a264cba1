// tcp:// receiving side: the PortBackend around a TcpEngine (tcp_engine.hpp,
// which does the I/O and says who does it). This file is the I/O thread's part:
// it watches the engine's Poller from the Context's loop, steps aside while a
// receiving thread leads, and takes over again once that thread has stopped
// receiving for a millisecond (sooner when a receive_async() needs it); and it
// runs the engine's timers (stalled frames, accept back-off).
#include <atomic>

#include "nexo/io/io_watcher.hpp"
#include "nexo/io/timer.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/tcp_engine.hpp"

namespace nexo::msg {
namespace {

using namespace std::chrono_literals;

constexpr auto kTakeOverAfter = 1ms;  // a receiver idle this long: the I/O thread reads again
constexpr auto kMaxRecheck = 64ms;    // how often to look while a receiver keeps leading

class TcpPort final : public PortBackend {
 public:
  TcpPort(Context& context, net::TcpListener listener, io::Poller poller,
          std::shared_ptr<PortCore> core)
      : context_(context), core_(std::move(core)), alive_(std::make_shared<bool>(true)) {
    uri_.scheme = Scheme::tcp;
    const auto& local = listener.local_endpoint();
    uri_.host = local.address().is_any() ? "*" : local.address().to_string();
    uri_.port = local.port();
    engine_ = std::make_shared<TcpEngine>(
        std::move(listener), std::move(poller), core_,
        [this, io = &context_.io(), alive = std::weak_ptr<bool>(alive_)] {
          io->post([this, alive] {
            if (alive.lock()) accept_backoff_->start(100ms);
          });
        });
  }
  ~TcpPort() override { close(); }

  Result<void> start();
  const Uri& uri() const noexcept override { return uri_; }
  void close() override;
  std::vector<ConnectionStats> connections() override { return engine_->connections(); }
  std::size_t connection_count() const noexcept override { return engine_->connection_count(); }
  std::shared_ptr<io::Progress> progress() const override { return engine_; }
  void want_background() override;

 private:
  void on_ready();
  void take_over_later(io::Clock::duration after);
  void recheck();
  void arm();

  Context& context_;
  std::shared_ptr<PortCore> core_;
  std::shared_ptr<TcpEngine> engine_;
  std::shared_ptr<bool> alive_;  // tasks posted from other threads check it on the loop thread
  Uri uri_;
  std::atomic<bool> armed_{false};       // the loop watches the engine
  std::atomic<bool> arm_posted_{false};  // want_background() has asked the loop to
  // Loop thread only:
  std::unique_ptr<io::IoWatcher> watcher_;
  std::unique_ptr<io::Timer> recheck_;         // takes over from an idle receiver
  std::unique_ptr<io::Timer> accept_backoff_;  // resumes accepting after running out of fds
  std::unique_ptr<io::Timer> sweeper_;         // closes connections that stall mid-frame
  io::Clock::duration recheck_delay_ = kTakeOverAfter;
  bool closed_ = false;
};

Result<void> TcpPort::start() {
  if (auto started = engine_->start(); !started) return std::move(started).error();
  auto started = context_.io().call<bool>([this]() -> Result<bool> {
    io::EventLoop& loop = context_.io().loop();
    watcher_ = std::make_unique<io::IoWatcher>(loop, engine_->native_handle(),
                                               [this](std::uint32_t) { on_ready(); });
    recheck_ = std::make_unique<io::Timer>(loop, [this] { recheck(); });
    accept_backoff_ = std::make_unique<io::Timer>(loop, [this] { engine_->resume_accepting(); });
    sweeper_ =
        std::make_unique<io::Timer>(loop, [this] { engine_->sweep_slow_peers(io::Clock::now()); });
    const auto period = std::max<io::Clock::duration>(core_->options.frame_timeout / 4, 10ms);
    sweeper_->start(period, period);
    arm();
    if (!armed_) return Error(ErrorKind::system, "tcp port: cannot watch the connections");
    return true;
  });
  if (!started) return std::move(started).error();
  return ok();
}

void TcpPort::arm() {
  if (armed_) return;
  if (watcher_->start(io::kReadable)) armed_ = true;
}

// The engine has work. A receiving thread that leads does it; then stop
// watching (it would wake this loop for every message) and look again later.
void TcpPort::on_ready() {
  if (engine_->run_from_loop()) return;
  watcher_->stop();
  armed_ = false;
  recheck_delay_ = kTakeOverAfter;
  take_over_later(kTakeOverAfter);
}

void TcpPort::take_over_later(io::Clock::duration after) {
  recheck_->start(after);
}

void TcpPort::recheck() {
  if (armed_) return;
  const auto idle = engine_->idle_for();
  if (!idle) {  // still leading: look less often the longer it leads
    recheck_delay_ = std::min<io::Clock::duration>(recheck_delay_ * 2, kMaxRecheck);
    return take_over_later(recheck_delay_);
  }
  if (*idle < kTakeOverAfter) return take_over_later(kTakeOverAfter - *idle);
  arm();
}

void TcpPort::want_background() {
  if (armed_.load() || arm_posted_.exchange(true)) return;
  context_.io().post([this, alive = std::weak_ptr<bool>(alive_)] {
    if (!alive.lock()) return;
    arm_posted_ = false;
    recheck_->stop();
    arm();
  });
}

void TcpPort::close() {
  if (std::exchange(closed_, true)) return;
  (void)context_.io().call<bool>([this]() -> Result<bool> {
    alive_.reset();
    watcher_.reset();
    recheck_.reset();
    accept_backoff_.reset();
    sweeper_.reset();
    return true;
  });
  engine_->close();
}

Result<net::Endpoint> bind_endpoint(const Uri& uri) {
  if (uri.is_wildcard()) return net::Endpoint(net::InetAddress::any(net::Family::v6), uri.port);
  return net::Endpoint::resolve(uri.host, uri.port);
}

}  // namespace

Result<std::unique_ptr<PortBackend>> bind_tcp(Context& context, const Uri& uri,
                                              std::shared_ptr<PortCore> core) {
  auto local = bind_endpoint(uri);
  if (!local) return std::move(local).error();
  auto listener = net::TcpListener::bind(*local);
  if (!listener) return std::move(listener).error();
  if (auto nb = listener->set_non_blocking(true); !nb) return std::move(nb).error();
  auto poller = io::Poller::create();
  if (!poller) return std::move(poller).error();
  auto port =
      std::make_unique<TcpPort>(context, std::move(*listener), std::move(*poller), std::move(core));
  if (auto started = port->start(); !started) return std::move(started).error();
  return std::unique_ptr<PortBackend>(std::move(port));
}

}  // namespace nexo::msg
