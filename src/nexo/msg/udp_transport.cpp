// udp://HOST:PORT — one datagram per message, nothing added: the payload is the
// datagram, so any UDP program (the chapter's UDPClient, for one) can send to a
// Port, and the chapter's failure model shows through: messages may be lost,
// duplicated or reordered, and a full queue drops (counted). A synchronous send
// needs an acknowledgement, which UDP cannot give: it is refused (use tcp://
// here, rudp:// once it exists).
//
// A fault plan (PortOptions::faults, SenderOptions::faults) is stacked
// in-process: a Sender's datagrams go through `to` before the socket, a Port's
// through `back` after it (fault::LoopInjector).
#include <array>
#include <mutex>

#include "nexo/fault/loop_injector.hpp"
#include "nexo/io/io_watcher.hpp"
#include "nexo/io/poller.hpp"
#include "nexo/msg/context.hpp"
#include "nexo/msg/datagram_socket.hpp"
#include "nexo/msg/transport.hpp"
#include "nexo/net/udp_socket.hpp"

namespace nexo::msg {
namespace {

class UdpPort final : public PortBackend {
 public:
  UdpPort(Context& context, net::UdpSocket socket, std::shared_ptr<PortCore> core)
      : context_(context), socket_(std::move(socket)), core_(std::move(core)) {
    uri_.scheme = Scheme::udp;
    const auto& local = socket_.local_endpoint();
    uri_.host = local.address().is_any() ? "*" : local.address().to_string();
    uri_.port = local.port();
  }
  ~UdpPort() override { close(); }

  Result<void> start() {
    const auto& faults = core_->options.faults;
    if (faults && faults->back.active()) {
      in_faults_ = std::make_unique<fault::LoopInjector>(
          context_.io(), faults->back, faults->seed,
          [this](std::span<const std::byte> bytes, const fault::Injector::Tag& tag) {
            offer(bytes, std::static_pointer_cast<const Origin>(tag));
          });
    }
    auto started = context_.io().call<bool>([this]() -> Result<bool> {
      watcher_ = std::make_unique<io::IoWatcher>(context_.io().loop(), socket_.native_handle(),
                                                 [this](std::uint32_t) { drain(); });
      if (auto watching = watcher_->start(io::kReadable); !watching)
        return std::move(watching).error();
      return true;
    });
    if (!started) return std::move(started).error();
    return ok();
  }

  const Uri& uri() const noexcept override { return uri_; }

  void close() override {
    if (std::exchange(closed_, true)) return;
    (void)context_.io().call<bool>([this]() -> Result<bool> {
      watcher_.reset();
      in_faults_.reset();  // what it still holds is lost, as on a network
      return true;
    });
    socket_.close();
  }

 private:
  void drain() {  // every datagram waiting, then back to the loop
    for (;;) {
      net::Endpoint from;
      auto n = socket_.receive_from(buffer_, from);
      if (!n) {
        if (!n.error().is(ErrorKind::truncated)) return;  // would_block: drained
        core_->counters.add_malformed();
        continue;
      }
      const auto datagram = std::span<const std::byte>(buffer_).first(*n);
      if (in_faults_) {
        in_faults_->push(datagram, source_for(from));
      } else {
        offer(datagram, source_for(from));
      }
    }
  }

  void offer(std::span<const std::byte> datagram, Source from) {
    if (datagram.size() > core_->options.max_message_size) {
      core_->counters.add_malformed();
      return;
    }
    Message message{Bytes(datagram.begin(), datagram.end()), std::move(from)};
    if (core_->queue.offer(message) != PortQueue::Offer::accepted) core_->counters.add_dropped();
  }

  // One Source per run of datagrams from the same sender.
  const Source& source_for(const net::Endpoint& from) {
    if (!last_source_ || from != last_from_) {
      last_from_ = from;
      last_source_ = make_source("udp://" + from.to_string());
    }
    return last_source_;
  }

  Context& context_;
  net::UdpSocket socket_;
  Source last_source_;
  net::Endpoint last_from_;
  std::shared_ptr<PortCore> core_;
  Uri uri_;
  std::unique_ptr<io::IoWatcher> watcher_;
  std::unique_ptr<fault::LoopInjector> in_faults_;  // loop thread (set before it starts)
  std::array<std::byte, net::UdpSocket::kMaxPayloadV6> buffer_{};
  bool closed_ = false;
};

class UdpSender final : public SenderBackend {
 public:
  // `writable` watches the socket for room (kWritable, key 0): wait_for_space
  // waits on it, and close() interrupts it.
  UdpSender(Context& context, Uri uri, net::UdpSocket socket, io::Poller writable,
            const SenderOptions& options)
      : uri_(std::move(uri)),
        socket_(std::move(socket)),
        writable_(std::move(writable)),
        max_message_(options.max_message_size) {
    if (options.faults && options.faults->to.active()) {
      out_faults_ = std::make_unique<fault::LoopInjector>(
          context.io(), options.faults->to, options.faults->seed,
          [this](std::span<const std::byte> bytes, const fault::Injector::Tag&) {
            std::lock_guard lock(mutex_);
            // Sent later than enqueue() returned: a failure now is a loss, counted.
            if (!socket_.is_open() || !socket_.send(bytes)) counters_.add_dropped();
          });
    }
  }
  ~UdpSender() override { close(); }

  Result<io::Request<void>> submit(std::span<const std::byte> data, bool until_taken,
                                   bool /*write_now*/) override {
    auto where = [this] { return "send to " + uri_.to_string(); };  // built only for an error
    if (until_taken) {
      return Error(
          ErrorKind::invalid_argument,
          where() + ": udp:// cannot acknowledge a message, so it has no synchronous send");
    }
    if (auto sent = enqueue(data); !sent) return std::move(sent).error();
    return io::Request<void>::ready(ok());  // it has left: it is in the kernel
  }

  // The datagram goes at once (no local buffer): a full socket buffer is would_block.
  Result<void> enqueue(std::span<const std::byte> data) override {
    auto where = [this] { return "send to " + uri_.to_string(); };  // built only for an error
    if (data.size() > max_message_) {
      return Error(ErrorKind::too_large, where() + ": message of " + std::to_string(data.size()) +
                                             " bytes exceeds the limit of " +
                                             std::to_string(max_message_));
    }
    {
      std::lock_guard faults_lock(faults_mutex_);
      if (out_faults_) {  // through the plan: the injector sends it (now or later)
        if (closed_) return Error(ErrorKind::closed, where() + ": the sender is closed");
        counters_.add_out(data.size());
        out_faults_->push(data);
        return ok();
      }
    }
    std::lock_guard lock(mutex_);
    if (!socket_.is_open()) return Error(ErrorKind::closed, where() + ": the sender is closed");
    if (auto sent = socket_.send(data); !sent) return std::move(sent).error();
    counters_.add_out(data.size());
    return ok();
  }

  // Every datagram left when its send returned: nothing to wait for.
  Result<void> flush(io::Clock::time_point) override {
    std::lock_guard lock(mutex_);
    if (!socket_.is_open())
      return Error(ErrorKind::closed, "flush to " + uri_.to_string() + ": the sender is closed");
    return ok();
  }

  // Waits on the poller, never on the socket itself: close() may close the
  // socket meanwhile (it leaves the poller first, then interrupts the wait).
  Result<void> wait_for_space(io::Clock::time_point deadline) override {
    auto closed = [this] {
      return Error(ErrorKind::closed, "send to " + uri_.to_string() + ": the sender is closed");
    };
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (!socket_.is_open()) {
          writable_.interrupt();  // pass the wake-up on to any other waiter
          return closed();
        }
      }
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - io::Clock::now());
      if (left.count() <= 0)
        return Error(ErrorKind::timed_out, "send to " + uri_.to_string() + ": socket buffer full");
      std::array<io::Poller::Event, 1> ready;
      if (writable_.wait(ready, left) > 0) {  // room, or an error the next send reports
        std::lock_guard lock(mutex_);
        if (socket_.is_open()) return ok();
      }
    }
  }

  void close() override {
    std::unique_ptr<fault::LoopInjector> faults;
    {
      std::lock_guard faults_lock(faults_mutex_);
      closed_ = true;
      faults = std::move(out_faults_);
    }
    faults.reset();  // what it still holds is lost, as on a network
    std::lock_guard lock(mutex_);
    if (!socket_.is_open()) return;
    writable_.remove(socket_.native_handle());
    socket_.close();
    writable_.interrupt();  // a wait_for_space in progress returns closed
  }
  const Counters& counters() const noexcept override { return counters_; }

 private:
  Uri uri_;
  std::mutex faults_mutex_;  // before mutex_ when both are taken
  std::unique_ptr<fault::LoopInjector> out_faults_;
  bool closed_ = false;  // with faults_mutex_
  std::mutex mutex_;
  net::UdpSocket socket_;  // with mutex_
  io::Poller writable_;    // the socket, for wait_for_space; any thread
  std::size_t max_message_;
  Counters counters_;
};

}  // namespace

Result<std::unique_ptr<PortBackend>> bind_udp(Context& context, const Uri& uri,
                                              std::shared_ptr<PortCore> core) {
  auto socket = open_port_socket(uri);
  if (!socket) return std::move(socket).error();
  auto port = std::make_unique<UdpPort>(context, std::move(*socket), std::move(core));
  if (auto started = port->start(); !started) return std::move(started).error();
  return std::unique_ptr<PortBackend>(std::move(port));
}

Result<std::unique_ptr<SenderBackend>> connect_udp(Context& context, const Uri& uri,
                                                   const SenderOptions& options) {
  auto socket = open_sender_socket(uri);
  if (!socket) return std::move(socket).error();
  auto writable = io::Poller::create();
  if (!writable) return std::move(writable).error().with_context("connect " + uri.to_string());
  if (auto watched = writable->add(socket->native_handle(), io::kWritable, 0); !watched)
    return std::move(watched).error().with_context("connect " + uri.to_string());
  return std::unique_ptr<SenderBackend>(std::make_unique<UdpSender>(
      context, uri, std::move(*socket), std::move(*writable), options));
}

}  // namespace nexo::msg
