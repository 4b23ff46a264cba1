// tcp:// (and ipc://) receiving side: the PortBackend around a TcpEngine (tcp_engine.hpp,
// which does the I/O and says who does it). This file is the I/O thread's part:
// an io::LoopFallback runs the engine while no receiving thread does, and two
// timers serve it (stalled frames, accept back-off).
#include "nexo/io/driven_poller.hpp"
#include "nexo/io/timer.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/tcp_engine.hpp"

namespace nexo::msg {
namespace {

using namespace std::chrono_literals;

class TcpPort final : public PortBackend {
 public:
  TcpPort(Context& context, net::TcpListener listener, io::Poller poller,
          std::shared_ptr<PortCore> core)
      : context_(context), core_(std::move(core)), alive_(std::make_shared<bool>(true)) {
    uri_.scheme = Scheme::tcp;
    const auto& local = listener.local_endpoint();
    uri_.host = local.address().is_any() ? "*" : local.address().to_string();
    uri_.port = local.port();
    if (listener.is_unix()) uri_ = Uri{Scheme::ipc, {}, 0, listener.unix_address().to_string()};
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
  void want_background() override { fallback_->want_background(); }

 private:
  Context& context_;
  std::shared_ptr<PortCore> core_;
  std::shared_ptr<TcpEngine> engine_;
  std::shared_ptr<bool> alive_;  // tasks posted from other threads check it on the loop thread
  Uri uri_;
  std::unique_ptr<io::LoopFallback> fallback_;
  // Loop thread only:
  std::unique_ptr<io::Timer> accept_backoff_;  // resumes accepting after running out of fds
  std::unique_ptr<io::Timer> sweeper_;         // closes connections that stall mid-frame
  bool closed_ = false;
};

Result<void> TcpPort::start() {
  if (auto started = engine_->start(); !started) return std::move(started).error();
  auto fallback = io::LoopFallback::start(context_.io(), engine_);
  if (!fallback) return std::move(fallback).error();
  fallback_ = std::move(*fallback);
  (void)context_.io().call<bool>([this]() -> Result<bool> {
    io::EventLoop& loop = context_.io().loop();
    accept_backoff_ = std::make_unique<io::Timer>(loop, [this] { engine_->resume_accepting(); });
    sweeper_ =
        std::make_unique<io::Timer>(loop, [this] { engine_->sweep_slow_peers(io::Clock::now()); });
    const auto period = std::max<io::Clock::duration>(core_->options.frame_timeout / 4, 10ms);
    sweeper_->start(period, period);
    return true;
  });
  return ok();
}

void TcpPort::close() {
  if (std::exchange(closed_, true)) return;
  fallback_.reset();
  (void)context_.io().call<bool>([this]() -> Result<bool> {
    alive_.reset();
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

namespace {

// A port on a listener bound to `local` (an Endpoint or a UnixAddress): the
// options checked, the listener non-blocking, the I/O started.
template <class Address>
Result<std::unique_ptr<PortBackend>> start_port(Context& context, const Uri& uri,
                                                Result<Address> local,
                                                std::shared_ptr<PortCore> core) {
  if (auto usable = TcpEngine::check(core->options); !usable)
    return std::move(usable).error().with_context("bind " + uri.to_string());
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

}  // namespace

Result<std::unique_ptr<PortBackend>> bind_tcp(Context& context, const Uri& uri,
                                              std::shared_ptr<PortCore> core) {
  return start_port(context, uri, bind_endpoint(uri), std::move(core));
}

// The same port over a Unix-domain stream socket; closing it removes the socket file.
Result<std::unique_ptr<PortBackend>> bind_ipc(Context& context, const Uri& uri,
                                              std::shared_ptr<PortCore> core) {
  return start_port(context, uri, net::UnixAddress::parse(uri.name), std::move(core));
}

}  // namespace nexo::msg
