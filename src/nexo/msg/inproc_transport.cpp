// inproc://NAME — messages within one process: a sender offers straight into
// the port's queue (a copy, no sockets). A full queue makes send_async say
// would_block and send() wait: the back-pressure of a bounded queue, visible.
// Replies go the same way back: Port::reply offers into the sender's queue.
#include <condition_variable>
#include <mutex>

#include "nexo/msg/context.hpp"
#include "nexo/msg/transport.hpp"

namespace nexo::msg {
namespace {

class InprocPort final : public PortBackend {
 public:
  InprocPort(Context& context, Uri uri) : context_(context), uri_(std::move(uri)) {}
  ~InprocPort() override { close(); }
  const Uri& uri() const noexcept override { return uri_; }
  void close() override {
    if (!std::exchange(closed_, true)) context_.unbind_inproc(uri_.name);
  }

 private:
  Context& context_;
  Uri uri_;
  bool closed_ = false;
};

// A sender's way back: its reply queue (and counters), which messages from it
// point to (weakly) as their origin.
struct InprocReplies final : ReplyPath {
  InprocReplies(QueueLimits limits, std::shared_ptr<PortCore> port_core, std::string name)
      : queue(limits, counters), port(std::move(port_core)), source(make_source(std::move(name))) {}

  Result<void> reply(std::uint64_t, std::span<const std::byte> data) override {
    auto where = [this] { return "reply to " + source->text; };  // built only for an error
    if (data.size() > port->options.max_message_size) {
      return Error(ErrorKind::too_large, where() + ": message of " + std::to_string(data.size()) +
                                             " bytes exceeds the limit of " +
                                             std::to_string(port->options.max_message_size));
    }
    Message message{Bytes(data.begin(), data.end()), source};
    switch (queue.offer(message)) {
      case PortQueue::Offer::accepted:
        port->counters.add_out(data.size());
        return ok();
      case PortQueue::Offer::full:
        return Error(ErrorKind::would_block,
                     where() + ": the sender's reply queue is full (it is not receiving)");
      case PortQueue::Offer::closed:
        break;
    }
    return Error(ErrorKind::closed, where() + ": the sender is closed");
  }

  Counters counters;  // the sender's
  PortQueue queue;
  const std::shared_ptr<PortCore> port;
  const Source source;  // of the replies: the port
};

class InprocSender final : public SenderBackend {
 public:
  InprocSender(Uri uri, std::shared_ptr<PortCore> core, const SenderOptions& options)
      : uri_(std::move(uri)),
        replies_(std::make_shared<InprocReplies>(options.replies, core, "inproc://" + uri_.name)),
        source_(make_source("inproc://" + uri_.name, replies_)),
        core_(std::move(core)),
        max_message_(options.max_message_size) {}
  ~InprocSender() override { close(); }

  Result<io::Request<void>> submit(std::span<const std::byte> data, bool until_taken,
                                   bool /*write_now*/) override {
    auto where = [this] { return "send to " + uri_.to_string(); };  // built only for an error
    if (auto refused = check(data)) return *std::move(refused);
    Message message{Bytes(data.begin(), data.end()), source_};
    auto [request, completer] = io::Request<void>::make();
    PortQueue::OnTaken on_taken;
    if (until_taken) {
      auto shared = std::make_shared<io::Completer<void>>(std::move(completer));
      on_taken = [shared] { shared->complete(ok()); };
      std::lock_guard lock(mutex_);
      std::erase_if(waiting_, [](const auto& w) { return w.expired(); });
      waiting_.push_back(shared);  // close() releases it if the message is never taken
    }
    switch (core_->queue.offer(message, std::move(on_taken))) {
      case PortQueue::Offer::accepted:
        replies_->counters.add_out(data.size());
        if (!until_taken) completer.complete(ok());  // it has left: it is in the port's queue
        return request;
      case PortQueue::Offer::full:
        return Error(ErrorKind::would_block, where() + ": the port's queue is full");
      case PortQueue::Offer::closed:
        break;
    }
    return Error(ErrorKind::closed, where() + ": the port is closed");
  }

  // Offers to the port's queue at once, as submit() does: no local buffer.
  Result<void> enqueue(std::span<const std::byte> data) override {
    auto where = [this] { return "send to " + uri_.to_string(); };  // built only for an error
    if (auto refused = check(data)) return *std::move(refused);
    Message message{Bytes(data.begin(), data.end()), source_};
    switch (core_->queue.offer(message)) {
      case PortQueue::Offer::accepted:
        replies_->counters.add_out(data.size());
        return ok();
      case PortQueue::Offer::full:
        return Error(ErrorKind::would_block, where() + ": the port's queue is full");
      case PortQueue::Offer::closed:
        break;
    }
    return Error(ErrorKind::closed, where() + ": the port is closed");
  }

  // A message is in the port's queue when its send returns: nothing to wait for.
  Result<void> flush(io::Clock::time_point) override {
    if (closed_)
      return Error(ErrorKind::closed, "flush to " + uri_.to_string() + ": the sender is closed");
    return ok();
  }

  Result<void> wait_for_space(io::Clock::time_point deadline) override {
    if (closed_)
      return Error(ErrorKind::closed, "send to " + uri_.to_string() + ": the sender is closed");
    auto state = std::make_shared<SpaceSignal>();
    core_->queue.when_space([state] {
      std::lock_guard lock(state->mutex);
      state->ready = true;
      state->cv.notify_all();
    });
    std::unique_lock lock(state->mutex);
    if (!state->cv.wait_until(lock, deadline, [&] { return state->ready; })) {
      return Error(ErrorKind::timed_out,
                   "send to " + uri_.to_string() + ": the port's queue stayed full");
    }
    return ok();
  }

  void close() override {
    closed_ = true;
    replies_->queue.close(Error(
        ErrorKind::closed, "receive a reply from " + uri_.to_string() + ": the sender is closed"));
    std::vector<std::weak_ptr<io::Completer<void>>> waiting;
    {
      std::lock_guard lock(mutex_);
      waiting.swap(waiting_);
    }
    for (auto& w : waiting) {
      if (auto completer = w.lock()) {
        completer->complete(Error(ErrorKind::closed, "send_sync to " + uri_.to_string() +
                                                         ": the sender was closed; the message may "
                                                         "still be taken"));
      }
    }
  }
  const Counters& counters() const noexcept override { return replies_->counters; }
  PortQueue* replies() noexcept override { return &replies_->queue; }

 private:
  // closed or too_large, if `data` cannot be sent at all.
  std::optional<Error> check(std::span<const std::byte> data) const {
    auto where = [this] { return "send to " + uri_.to_string(); };
    if (closed_) return Error(ErrorKind::closed, where() + ": the sender is closed");
    const std::size_t limit = std::min(max_message_, core_->options.max_message_size);
    if (data.size() <= limit) return std::nullopt;
    return Error(ErrorKind::too_large, where() + ": message of " + std::to_string(data.size()) +
                                           " bytes exceeds the limit of " + std::to_string(limit));
  }

  struct SpaceSignal {
    std::mutex mutex;
    std::condition_variable cv;
    bool ready = false;
  };

  Uri uri_;
  std::shared_ptr<InprocReplies> replies_;
  Source source_;  // of the messages sent: carries the way back
  std::shared_ptr<PortCore> core_;
  std::size_t max_message_;
  std::atomic<bool> closed_{false};
  std::mutex mutex_;
  std::vector<std::weak_ptr<io::Completer<void>>> waiting_;  // synchronous sends not yet taken
};

}  // namespace

Result<std::unique_ptr<PortBackend>> bind_inproc(Context& context, const Uri& uri,
                                                 std::shared_ptr<PortCore> core) {
  if (auto bound = context.bind_inproc(uri.name, std::move(core)); !bound)
    return std::move(bound).error();
  return std::unique_ptr<PortBackend>(std::make_unique<InprocPort>(context, uri));
}

Result<std::unique_ptr<SenderBackend>> connect_inproc(Context& context, const Uri& uri,
                                                      const SenderOptions& options) {
  auto core = context.find_inproc(uri.name);
  if (!core) return std::move(core).error();
  return std::unique_ptr<SenderBackend>(
      std::make_unique<InprocSender>(uri, std::move(*core), options));
}

}  // namespace nexo::msg
