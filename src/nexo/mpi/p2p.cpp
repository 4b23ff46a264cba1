#include "nexo/mpi/p2p.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

namespace nexo::mpi {
namespace {

// An unexpected message's slot keeps the storage of its copy, up to this size, for the next one.
constexpr std::size_t kKeptUnexpectedBytes = 4096;

Error invalid(std::string what) {
  return Error(ErrorKind::invalid_argument, "mpi: " + std::move(what));
}

Error unexpected_frame(const Frame& f, std::int32_t from, std::string_view why) {
  return Error(ErrorKind::malformed, "mpi frame " + std::string(to_string(f.kind)) + " from rank " +
                                         std::to_string(from) + ": " + std::string(why));
}

}  // namespace

Engine::Engine(EngineConfig config) : config_(std::move(config)) {
  config_.max_frame = std::max<std::size_t>(config_.max_frame, 1);
}

std::size_t Engine::frame_capacity() const noexcept {
  return kFrameHeaderSize +
         std::max({config_.eager_limit, kDataOffsetSize + config_.max_frame, kPullSize});
}

Engine::RequestId Engine::add_request(const Request& request) {
  std::uint32_t index = 0;
  if (free_.empty()) {
    index = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  } else {
    index = free_.back();
    free_.pop_back();
  }
  Slot& slot = slots_[index];
  // A slot's first use gives id index + 1 (a fresh engine counts 1, 2, 3...).
  const RequestId id = (RequestId{slot.uses++} << 32) | (RequestId{index} + 1);
  slot.request = request;
  slot.request.id = id;
  ++live_;
  return id;
}

Engine::Request* Engine::find(RequestId id) noexcept {
  const auto index = static_cast<std::uint32_t>(id) - std::uint64_t{1};
  if (index >= slots_.size()) return nullptr;
  Request& request = slots_[index].request;
  return request.id == id && id != 0 ? &request : nullptr;
}

const Engine::Request* Engine::find(RequestId id) const noexcept {
  return const_cast<Engine*>(this)->find(id);
}

void Engine::release(Request& request) noexcept {
  free_.push_back(static_cast<std::uint32_t>(request.id) - 1);
  request.id = 0;
  --live_;
}

void Engine::push(std::int32_t to, Outgoing out) {
  const auto peer = static_cast<std::size_t>(to);
  if (peer >= output_.size()) output_.resize(peer + 1);
  if (output_[peer].empty()) with_output_.push_back(to);
  output_[peer].push_back(out);
}

Result<Engine::RequestId> Engine::isend(std::int32_t dest, std::uint32_t context, std::int32_t tag,
                                        std::span<const std::byte> data, SendMode mode) {
  if (dest < 0) return invalid("isend: destination rank " + std::to_string(dest) + " is negative");
  if (tag < 0) return invalid("isend: tag " + std::to_string(tag) + " is negative");
  Request send;
  send.is_send = true;
  send.envelope = {context, dest, tag};
  send.data = data;
  send.mode = mode;
  send.peer = dest;
  send.rendezvous = data.size() > config_.eager_limit;
  ++(send.rendezvous ? counters_.rendezvous_sends : counters_.eager_sends);
  send.status = {dest, tag, data.size(), false, false};
  const RequestId id = add_request(send);
  push(dest, {send.rendezvous ? FrameKind::rts : FrameKind::eager,
              id,
              0,
              0,
              {context, config_.rank, tag}});
  return id;
}

std::optional<Engine::RequestId> Engine::eager_now(
    std::int32_t dest, std::uint32_t context, std::int32_t tag, std::span<const std::byte> data,
    std::span<std::byte, kFrameHeaderSize> header) const noexcept {
  if (dest < 0 || tag < 0 || data.size() > config_.eager_limit) return std::nullopt;
  const auto peer = static_cast<std::size_t>(dest);
  if (peer < output_.size() && !output_[peer].empty()) return std::nullopt;  // keep send order
  Frame f;
  f.kind = FrameKind::eager;
  f.context = context;
  f.source = config_.rank;
  f.tag = tag;
  f.size = data.size();
  f.sender_request = static_cast<RequestId>(next_now_) << 32;
  // The header alone: the payload is left empty so that encode_frame writes 40 bytes.
  if (!encode_frame(f, header)) return std::nullopt;
  return f.sender_request;
}

void Engine::sent_now() noexcept {
  ++counters_.eager_sends;
  ++counters_.frames_sent;
  if (++next_now_ == 0) next_now_ = 1;
}

Result<Engine::RequestId> Engine::irecv(std::int32_t source, std::uint32_t context,
                                        std::int32_t tag, std::span<std::byte> buffer) {
  if (source < kAnySource)
    return invalid("irecv: source rank " + std::to_string(source) + " is negative");
  if (tag < kAnyTag) return invalid("irecv: tag " + std::to_string(tag) + " is negative");
  Request receive;
  receive.envelope = {context, source, tag};
  receive.buffer = buffer;
  const RequestId id = add_request(receive);
  if (const auto message = matcher_.post(receive.envelope, id)) {
    Incoming& incoming = arrived_[*message];
    unexpected_bytes_ -= incoming.data.size();
    deliver(id, incoming, incoming.data);
    // The slot keeps a small copy's storage for the next unexpected message.
    if (incoming.data.capacity() > kKeptUnexpectedBytes) {
      Bytes().swap(incoming.data);
    } else {
      incoming.data.clear();
    }
    arrived_free_.push_back(static_cast<std::uint32_t>(*message));
    reap();
  }
  return id;
}

void Engine::complete(Request& request) {
  request.done = true;
  if (!request.is_send) {
    request.status.count = request.progress;
    request.status.message = request.remote_request;
  }
  if (request.detached) reaped_.push_back(request.id);
}

// Erases detached requests that completed; run at the end of each public call
// that may complete one, when no reference into slots_ is held any more.
void Engine::reap() {
  for (RequestId id : reaped_) {
    if (Request* request = find(id)) release(*request);
  }
  reaped_.clear();
}

Result<void> Engine::detach(RequestId id) {
  Request* request = find(id);
  if (request == nullptr) return invalid("detach: request " + std::to_string(id) + " is not live");
  if (request->done) {
    release(*request);
  } else {
    request->detached = true;
  }
  return ok();
}

void Engine::complete_send_if_done(Request& send) {
  const bool done = send.rendezvous
                        ? send.matched && send.transmitted
                        : send.transmitted && (send.mode != SendMode::synchronous || send.matched);
  if (done) complete(send);
}

// A message matched receive `id`: copy it (EAGER), pull it, or ask for it (CTS).
void Engine::deliver(RequestId id, const Incoming& message, std::span<const std::byte> eager) {
  Request& receive = *find(id);
  receive.matched = true;
  receive.rendezvous = message.kind == FrameKind::rts;
  receive.peer = message.from;
  receive.remote_request = message.sender_request;
  receive.status.source = message.envelope.source;
  receive.status.tag = message.envelope.tag;
  receive.expected = std::min<std::uint64_t>(message.size, receive.buffer.size());
  receive.status.truncated = message.size > receive.buffer.size();
  const Outgoing reply{FrameKind::sync_ack,
                       id,
                       message.sender_request,
                       receive.expected,
                       {message.envelope.context, config_.rank, message.envelope.tag}};
  if (!receive.rendezvous) {
    if (receive.expected > 0) std::memcpy(receive.buffer.data(), eager.data(), receive.expected);
    receive.progress = receive.expected;
    if (message.synchronous) push(message.from, reply);
    complete(receive);
    return;
  }
  if (message.pull && config_.pull && receive.expected > 0) {
    if (config_.pull(message.from, *message.pull, receive.buffer.first(receive.expected))) {
      receive.progress = receive.expected;
      Outgoing fin = reply;
      fin.kind = FrameKind::fin;
      push(message.from, fin);
      ++counters_.pulls;
      complete(receive);
      return;
    }
    // The pull failed (permissions, a vanished process...): CTS/DATA still works.
    ++counters_.pull_fallbacks;
  }
  Outgoing cts = reply;
  cts.kind = FrameKind::cts;
  push(message.from, cts);
  if (receive.expected == 0) complete(receive);
}

Result<void> Engine::on_frame(std::int32_t from, std::span<const std::byte> bytes) {
  auto frame = decode_frame(bytes);
  if (!frame) {
    ++counters_.frames_refused;
    return std::move(frame).error().with_context("from rank " + std::to_string(from));
  }
  if (frame->source != from) {
    ++counters_.frames_refused;
    return unexpected_frame(*frame, from, "source field names another rank");
  }
  auto result = dispatch(from, *frame);
  reap();
  ++(result ? counters_.frames_received : counters_.frames_refused);
  return result;
}

Result<std::optional<Status>> Engine::on_frame_for(std::int32_t from,
                                                   std::span<const std::byte> bytes,
                                                   std::int32_t source, std::uint32_t context,
                                                   std::int32_t tag, std::span<std::byte> buffer) {
  using Taken = std::optional<Status>;
  auto frame = decode_frame(bytes);
  if (frame && idle() && frame->source == from && frame->kind == FrameKind::eager &&
      !frame->synchronous() && frame->context == context &&
      (source == kAnySource || source == from) && (tag == kAnyTag || tag == frame->tag) &&
      frame->payload.size() <= buffer.size()) {
    if (!frame->payload.empty())
      std::memcpy(buffer.data(), frame->payload.data(), frame->payload.size());
    ++counters_.frames_received;
    return Taken{
        Status{from, frame->tag, frame->payload.size(), false, false, frame->sender_request}};
  }
  auto taken = on_frame(from, bytes);
  if (!taken) return std::move(taken).error();
  return Taken{};
}

Result<void> Engine::dispatch(std::int32_t from, const Frame& frame) {
  switch (frame.kind) {
    case FrameKind::eager:
    case FrameKind::rts:
      return on_message(from, frame);
    case FrameKind::cts:
      return on_cts(from, frame);
    case FrameKind::data:
      return on_data(from, frame);
    case FrameKind::sync_ack:
    case FrameKind::fin:
      return on_send_done(from, frame);
  }
  return unexpected_frame(frame, from, "unknown kind");
}

Result<void> Engine::on_message(std::int32_t from, const Frame& f) {
  Incoming message;
  message.from = from;
  message.envelope = {f.context, f.source, f.tag};
  message.kind = f.kind;
  message.synchronous = f.synchronous();
  message.size = f.size;
  message.sender_request = f.sender_request;
  message.pull = f.pull;
  if (f.payload.size() > config_.max_unexpected_bytes -
                             std::min(unexpected_bytes_, config_.max_unexpected_bytes) &&
      !matcher_.has_posted_for(message.envelope)) {
    return Error(ErrorKind::overloaded,
                 "mpi frame EAGER from rank " + std::to_string(from) + ": " +
                     std::to_string(unexpected_bytes_) + " bytes of unexpected messages already, " +
                     "the limit is " + std::to_string(config_.max_unexpected_bytes) +
                     " (EngineConfig::max_unexpected_bytes)");
  }
  // The slot it will take if no receive matches (taken only then).
  const std::size_t slot = arrived_free_.empty() ? arrived_.size() : arrived_free_.back();
  if (const auto receive = matcher_.arrive(message.envelope, slot)) {
    deliver(*receive, message, f.payload);
    return ok();
  }
  if (slot == arrived_.size()) {
    arrived_.emplace_back();
  } else {
    arrived_free_.pop_back();
  }
  Incoming& kept = arrived_[slot];
  message.data.swap(kept.data);  // the slot's storage, reused
  message.data.assign(f.payload.begin(), f.payload.end());
  kept = std::move(message);
  unexpected_bytes_ += kept.data.size();
  ++counters_.unexpected_arrivals;
  return ok();
}

Result<void> Engine::on_cts(std::int32_t from, const Frame& f) {
  Request* found = find(f.sender_request);
  if (found == nullptr || !found->is_send || found->done || !found->rendezvous ||
      !found->announced || found->matched || found->peer != from ||
      found->envelope.context != f.context) {
    return unexpected_frame(
        f, from,
        "no rendezvous send " + std::to_string(f.sender_request) + " to this rank waits for a CTS");
  }
  Request& send = *found;
  if (f.size > send.data.size())
    return unexpected_frame(f, from, "asks for more bytes than the message has");
  send.matched = true;
  send.remote_request = f.receiver_request;
  send.expected = f.size;
  if (send.expected == 0) {
    send.transmitted = true;
    complete_send_if_done(send);
  } else {
    push(from, {FrameKind::data, send.id, 0, 0, {f.context, config_.rank, send.envelope.tag}});
  }
  return ok();
}

Result<void> Engine::on_data(std::int32_t from, const Frame& f) {
  Request* found = find(f.receiver_request);
  if (found == nullptr || found->is_send || found->done || !found->rendezvous ||
      found->peer != from || found->remote_request != f.sender_request) {
    return unexpected_frame(
        f, from,
        "no receive " + std::to_string(f.receiver_request) + " waits for DATA of this send");
  }
  Request& receive = *found;
  if (f.size != receive.expected || f.offset != receive.progress) {
    return unexpected_frame(f, from,
                            "chunk at " + std::to_string(f.offset) + " of " +
                                std::to_string(f.size) + ", expected at " +
                                std::to_string(receive.progress) + " of " +
                                std::to_string(receive.expected));
  }
  std::memcpy(receive.buffer.data() + f.offset, f.payload.data(), f.payload.size());
  receive.progress += f.payload.size();
  if (receive.progress == receive.expected) complete(receive);
  return ok();
}

Result<void> Engine::on_send_done(std::int32_t from, const Frame& f) {
  Request* found = find(f.sender_request);
  const bool fin = f.kind == FrameKind::fin;
  if (found == nullptr || !found->is_send || found->done || !found->announced || found->matched ||
      found->peer != from || found->rendezvous != fin ||
      (fin ? !config_.pull_pid.has_value() : found->mode != SendMode::synchronous)) {
    return unexpected_frame(
        f, from, "no send " + std::to_string(f.sender_request) + " to this rank waits for it");
  }
  Request& send = *found;
  send.matched = true;
  if (fin) {
    send.expected = send.data.size();
    send.transmitted = true;
  }
  complete_send_if_done(send);
  return ok();
}

// `body`: nullptr to copy a message's bytes into `into`, else where to leave them (see
// poll_transmit).
Result<std::size_t> Engine::transmit(Outgoing& out, std::span<std::byte> into, bool& finished,
                                     std::span<const std::byte>* body) {
  Frame f;
  f.kind = out.kind;
  f.context = out.envelope.context;
  f.source = out.envelope.source;
  f.tag = out.envelope.tag;
  finished = true;
  if (out.kind == FrameKind::cts || out.kind == FrameKind::sync_ack || out.kind == FrameKind::fin) {
    f.sender_request = out.remote;
    if (out.kind == FrameKind::cts) {
      f.size = out.size;
      f.receiver_request = out.local;
    }
    return encode_frame(f, into);
  }
  Request& send = *find(out.local);
  f.sender_request = out.local;
  if (out.kind == FrameKind::data) {
    const std::uint64_t chunk =
        std::min<std::uint64_t>(config_.max_frame, send.expected - send.progress);
    f.size = send.expected;
    f.receiver_request = send.remote_request;
    f.offset = send.progress;
    f.payload = send.data.subspan(send.progress, chunk);
    if (body != nullptr) *body = std::exchange(f.payload, {});
    auto written = encode_frame(f, into);
    if (!written) return written;
    send.progress += chunk;
    finished = send.progress == send.expected;
    send.transmitted = finished;
    complete_send_if_done(send);
    return written;
  }
  f.size = send.data.size();
  if (send.mode == SendMode::synchronous) f.flags |= kSynchronous;
  if (out.kind == FrameKind::eager) {
    f.payload = send.data;
    if (body != nullptr) *body = std::exchange(f.payload, {});
  } else if (config_.pull_pid) {
    f.flags |= kHasPull;
    f.pull = PullAddress{*config_.pull_pid, reinterpret_cast<std::uintptr_t>(send.data.data())};
  }
  auto written = encode_frame(f, into);
  if (!written) return written;
  send.announced = true;
  if (out.kind == FrameKind::eager) send.transmitted = true;
  complete_send_if_done(send);
  return written;
}

Result<std::size_t> Engine::poll_transmit(std::int32_t to, std::span<std::byte> out) {
  return poll_transmit(to, out, nullptr);
}

Result<std::size_t> Engine::poll_transmit(std::int32_t to, std::span<std::byte> out,
                                          std::span<const std::byte>* body) {
  if (body != nullptr) *body = {};
  const auto peer = static_cast<std::size_t>(to);
  if (to < 0 || peer >= output_.size() || output_[peer].empty()) return std::size_t{0};
  auto& frames = output_[peer];
  bool finished = false;
  auto written = transmit(frames.front(), out, finished, body);
  if (!written) return std::move(written).error().with_context("to rank " + std::to_string(to));
  // An unfinished DATA stream goes to the back, so that a large message does not hold
  // up the small ones behind it (the order of EAGER and RTS frames is kept).
  Outgoing front = frames.front();
  frames.pop_front();
  if (!finished) frames.push_back(front);
  if (frames.empty()) with_output_.erase(std::find(with_output_.begin(), with_output_.end(), to));
  ++counters_.frames_sent;
  reap();
  return written;
}

std::vector<std::int32_t> Engine::peers_with_output() const {
  std::vector<std::int32_t> peers;
  peers_with_output(peers);
  return peers;
}

void Engine::peers_with_output(std::vector<std::int32_t>& out) const {
  out.assign(with_output_.begin(), with_output_.end());
}

Result<std::optional<Status>> Engine::test(RequestId id) {
  Request* request = find(id);
  if (request == nullptr) return invalid("test: request " + std::to_string(id) + " is not live");
  if (!request->done) return std::optional<Status>{};
  const Status status = request->status;
  release(*request);
  return std::optional<Status>{status};
}

bool Engine::cancel(RequestId id) {
  Request* request = find(id);
  if (request == nullptr || request->is_send || request->done || request->matched) return false;
  if (!matcher_.cancel(request->envelope, id)) return false;
  request->status.cancelled = true;
  complete(*request);
  reap();
  return true;
}

std::optional<Status> Engine::iprobe(std::int32_t source, std::uint32_t context,
                                     std::int32_t tag) const {
  const auto probed = matcher_.probe({context, source, tag});
  if (!probed) return std::nullopt;
  const Incoming& message = arrived_[probed->message];
  return Status{message.envelope.source, message.envelope.tag, message.size, false, false};
}

}  // namespace nexo::mpi
