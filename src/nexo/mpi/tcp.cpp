#include "nexo/mpi/tcp.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>

#include "nexo/mpi/tcp_mesh.hpp"
#include "nexo/net/inet_address.hpp"

namespace nexo::mpi {
namespace {

constexpr std::size_t kPrefix = 8;  // u64 LE frame length
// One read of small frames: many frames per system call.
constexpr std::size_t kInBuffer = std::size_t{64} << 10;
// A frame longer than this is read into a buffer of its own size, not through the input buffer
// (so a partial small frame always leaves half of the input buffer free for the next read).
constexpr std::size_t kLargeFrame = kInBuffer / 2 - kPrefix;
// A large-frame buffer up to this size is kept for the next one (no page faults for the next
// frame of a bandwidth run); a larger one is freed once delivered.
constexpr std::size_t kKeepLarge = std::size_t{64} << 20;
// Frames a rank delivers before poll() turns to the next rank.
constexpr std::size_t kBatch = 32;
// Buffers one writev takes (the net layer's limit).
constexpr std::size_t kMaxGather = 64;
// The smallest output chunk: later small frames are appended to it.
constexpr std::size_t kMinChunk = std::size_t{64} << 10;
// Written chunks kept for reuse (freshly allocated memory costs a page fault per 4 KiB, as much
// as the copy itself), and the largest kept.
constexpr std::size_t kSpareChunks = 8;
constexpr std::size_t kKeepChunk = std::size_t{8} << 20;

void put_u64(std::byte* out, std::uint64_t value) {
  for (std::size_t i = 0; i < 8; ++i)
    out[i] = static_cast<std::byte>((value >> (8 * i)) & 0xff);
}

std::uint64_t get_u64(const std::byte* in) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i)
    value |= static_cast<std::uint64_t>(in[i]) << (8 * i);
  return value;
}

}  // namespace

// Bytes copied into an output queue: the rest of frames the socket did not take. Small frames
// queued one after another share a chunk.
struct TcpWorld::Chunk {
  std::unique_ptr<std::byte[]> bytes;
  std::size_t size = 0;      // bytes queued in it
  std::size_t capacity = 0;  // bytes allocated
};

struct TcpWorld::Peer {
  std::optional<net::TcpStream> stream;  // nullopt: not over TCP
  std::string name;                      // "rank 3 (127.0.0.1:4000)"
  std::optional<Error> broken;           // the connection failed: every later call says so

  std::deque<Chunk> out;       // queued output, oldest first
  std::size_t out_offset = 0;  // bytes of out.front() already written
  std::size_t out_bytes = 0;   // bytes queued in all

  std::unique_ptr<std::byte[]> in;  // kInBuffer bytes, allocated on the first read
  std::size_t in_begin = 0, in_end = 0;
  bool buffered = false;  // [in_begin, in_end) holds a whole frame

  std::unique_ptr<std::byte[]> large;  // the large frame being read
  std::size_t large_capacity = 0, large_size = 0, large_got = 0;
  bool reading_large = false;

  bool readable = false;  // reported ready since it was last drained
};

Result<net::TcpListener> TcpWorld::listen(std::string_view bind_ip) {
  auto address = net::InetAddress::parse(bind_ip);
  if (!address) return std::move(address).error().with_context("mpi tcp listen");
  auto listener = net::TcpListener::bind(net::Endpoint(*address, 0));
  if (!listener) return std::move(listener).error().with_context("mpi tcp listen");
  return listener;
}

Result<TcpWorld> TcpWorld::connect(net::TcpListener listener, int rank,
                                   std::span<const std::optional<std::string>> addresses,
                                   std::string_view job_cookie, Timeout timeout,
                                   TcpOptions options) {
  auto streams = tcp_mesh::build(std::move(listener), rank, addresses, job_cookie, timeout);
  if (!streams) return std::move(streams).error();
  auto poller = io::Poller::create();
  if (!poller) return std::move(poller).error().with_context("mpi tcp world");
  std::vector<Peer> peers(addresses.size());
  for (std::size_t r = 0; r < peers.size(); ++r) {
    auto& stream = (*streams)[r];
    if (!stream) continue;
    const std::string name =
        "rank " + std::to_string(r) + " (" + stream->peer_endpoint().to_string() + ")";
    Result<void> set = stream->set_no_delay(true);
    if (set && options.socket_buffer > 0) set = stream->set_send_buffer_size(options.socket_buffer);
    if (set && options.socket_buffer > 0)
      set = stream->set_receive_buffer_size(options.socket_buffer);
    if (set) set = stream->set_non_blocking(true);
    if (set) set = poller->add(stream->native_handle(), io::kReadable, r);
    if (!set) return std::move(set).error().with_context("mpi tcp connection to " + name);
    peers[r].stream = std::move(stream);
    peers[r].name = name;
  }
  return TcpWorld(rank, options, std::move(*poller), std::move(peers));
}

TcpWorld::TcpWorld(int rank, TcpOptions options, io::Poller poller, std::vector<Peer> peers)
    : rank_(rank),
      nranks_(static_cast<int>(peers.size())),
      options_(options),
      poller_(std::make_unique<io::Poller>(std::move(poller))),
      peers_(std::move(peers)),
      next_poll_(rank) {}

TcpWorld::TcpWorld(TcpWorld&&) noexcept = default;
TcpWorld& TcpWorld::operator=(TcpWorld&&) noexcept = default;
TcpWorld::~TcpWorld() = default;

bool TcpWorld::connected_to(int rank) const noexcept {
  return rank >= 0 && rank < size() && peers_[static_cast<std::size_t>(rank)].stream.has_value();
}

std::size_t TcpWorld::queued_bytes(int rank) const noexcept {
  return connected_to(rank) ? peers_[static_cast<std::size_t>(rank)].out_bytes : 0;
}

std::vector<int> TcpWorld::fds() const {
  std::vector<int> out(peers_.size(), -1);
  for (std::size_t r = 0; r < peers_.size(); ++r)
    if (peers_[r].stream) out[r] = peers_[r].stream->native_handle();
  return out;
}

Error TcpWorld::peer_error(int rank, Error error) {
  auto& p = peers_[static_cast<std::size_t>(rank)];
  ErrorKind kind = error.kind();
  if (kind == ErrorKind::closed || kind == ErrorKind::reset || kind == ErrorKind::timed_out)
    kind = ErrorKind::not_connected;
  Error failed(kind,
               "mpi tcp connection with " + p.name + " of rank " + std::to_string(rank_) +
                   " failed: " + error.message(),
               error.sys_errno());
  p.broken = failed;
  return failed;
}

Result<void> TcpWorld::set_write_interest(int rank, bool on) {
  auto& p = peers_[static_cast<std::size_t>(rank)];
  auto set = poller_->modify(p.stream->native_handle(), io::kReadable | (on ? io::kWritable : 0u),
                             static_cast<std::uint64_t>(rank));
  if (!set) return peer_error(rank, std::move(set).error());
  return ok();
}

// ---- sending ----

void TcpWorld::sockets(std::vector<Socket>& out) const {
  out.clear();
  for (const Peer& p : peers_)
    if (p.stream) out.push_back({p.stream->native_handle(), !p.out.empty()});
}

Result<bool> TcpWorld::send(int to, std::span<const std::byte> frame) {
  std::span<const std::byte> parts[1] = {frame};
  return send(to, FrameParts(parts));
}

Result<bool> TcpWorld::send(int to, FrameParts parts) {
  if (!connected_to(to))
    return Error(ErrorKind::invalid_argument, "mpi tcp send from rank " + std::to_string(rank_) +
                                                  " to rank " + std::to_string(to) +
                                                  ": not a peer reached over TCP");
  auto& p = peers_[static_cast<std::size_t>(to)];
  if (p.broken) return *p.broken;
  std::size_t size = 0;
  for (auto part : parts)
    size += part.size();
  if (size > options_.max_frame)
    return Error(ErrorKind::too_large, "mpi tcp send to " + p.name + ": a frame of " +
                                           std::to_string(size) + " bytes (max_frame " +
                                           std::to_string(options_.max_frame) + ")");
  std::array<std::byte, kPrefix> prefix;
  put_u64(prefix.data(), size);
  // The prefix, then the parts: what one writev takes.
  std::array<std::span<const std::byte>, kMaxGather> gather;
  std::size_t count = 0;
  gather[count++] = prefix;
  for (auto part : parts) {
    if (count == kMaxGather) break;
    gather[count++] = part;
  }
  if (!p.out.empty()) {
    if (auto flushed = flush_peer(to); !flushed) return std::move(flushed).error();
    if (!p.out.empty()) {
      // A large frame waits for the socket (written later straight from the caller's bytes)
      // rather than being copied behind the queue.
      if (p.out_bytes >= options_.max_queued || size > options_.max_copied) {
        ++stats_.sends_full;
        return false;
      }
      if (auto queued = queue_rest(to, std::span(gather.data(), count), parts, 0); !queued)
        return std::move(queued).error();
      ++stats_.frames_sent;
      return true;
    }
  }
  std::size_t written = 0;
  auto n = p.stream->write_gather(std::span(gather.data(), count));
  if (n) {
    written = *n;
  } else if (!n.error().is(ErrorKind::would_block)) {
    return peer_error(to, std::move(n).error());
  }
  stats_.bytes_sent += written;
  if (written < kPrefix + size) {
    if (auto queued = queue_rest(to, std::span(gather.data(), count), parts, written); !queued)
      return std::move(queued).error();
  }
  ++stats_.frames_sent;
  return true;
}

// Copies the frame (the gathered prefix and parts, then any parts past the gather's limit),
// less its first `skip` bytes, into the peer's output queue.
Result<void> TcpWorld::queue_rest(int rank, std::span<const std::span<const std::byte>> gathered,
                                  FrameParts parts, std::size_t skip) {
  auto& p = peers_[static_cast<std::size_t>(rank)];
  std::size_t total = 0;
  for (auto part : gathered)
    total += part.size();
  const std::size_t extra_from = gathered.size() - 1;  // parts[extra_from..] were not gathered
  for (std::size_t i = extra_from; i < parts.size(); ++i)
    total += parts[i].size();
  const std::size_t need = total - skip;
  const bool was_empty = p.out.empty();
  if (was_empty || p.out.back().capacity - p.out.back().size < need)
    p.out.push_back(take_chunk(need));
  Chunk& chunk = p.out.back();
  std::byte* at = chunk.bytes.get() + chunk.size;
  auto copy = [&](std::span<const std::byte> part) {
    std::size_t drop = std::min(skip, part.size());
    skip -= drop;
    if (part.size() > drop) std::memcpy(at, part.data() + drop, part.size() - drop);
    at += part.size() - drop;
  };
  for (auto part : gathered)
    copy(part);
  for (std::size_t i = extra_from; i < parts.size(); ++i)
    copy(parts[i]);
  chunk.size += need;
  stats_.bytes_queued += need;
  p.out_bytes += need;
  if (was_empty) {
    ++pending_peers_;
    return set_write_interest(rank, true);
  }
  return ok();
}

TcpWorld::Chunk TcpWorld::take_chunk(std::size_t need) {
  auto best = spare_chunks_.end();
  for (auto it = spare_chunks_.begin(); it != spare_chunks_.end(); ++it)
    if (it->capacity >= need && (best == spare_chunks_.end() || it->capacity < best->capacity))
      best = it;
  if (best != spare_chunks_.end()) {
    Chunk chunk = std::move(*best);
    spare_chunks_.erase(best);
    chunk.size = 0;
    return chunk;
  }
  std::size_t capacity = std::max(need, kMinChunk);
  return Chunk{std::make_unique_for_overwrite<std::byte[]>(capacity), 0, capacity};
}

void TcpWorld::recycle(Chunk chunk) {
  if (chunk.capacity > kKeepChunk) return;
  if (spare_chunks_.size() == kSpareChunks) {
    // Keep the larger ones: they are the ones a page fault per 4 KiB would cost most.
    auto smallest =
        std::min_element(spare_chunks_.begin(), spare_chunks_.end(),
                         [](const Chunk& a, const Chunk& b) { return a.capacity < b.capacity; });
    if (smallest->capacity >= chunk.capacity) return;
    *smallest = std::move(chunk);
    return;
  }
  spare_chunks_.push_back(std::move(chunk));
}

Result<void> TcpWorld::flush_peer(int rank) {
  auto& p = peers_[static_cast<std::size_t>(rank)];
  if (p.broken) return *p.broken;
  if (p.out.empty()) return ok();
  while (!p.out.empty()) {
    std::array<std::span<const std::byte>, kMaxGather> gather;
    std::size_t count = 0, asked = 0;
    for (std::size_t i = 0; i < p.out.size() && count < kMaxGather; ++i) {
      std::size_t offset = i == 0 ? p.out_offset : 0;
      gather[count++] =
          std::span<const std::byte>(p.out[i].bytes.get() + offset, p.out[i].size - offset);
      asked += p.out[i].size - offset;
    }
    auto n = p.stream->write_gather(std::span(gather.data(), count));
    if (!n) {
      if (n.error().is(ErrorKind::would_block)) return ok();
      return peer_error(rank, std::move(n).error());
    }
    stats_.bytes_sent += *n;
    p.out_bytes -= *n;
    std::size_t left = *n;
    while (left > 0) {
      std::size_t in_front = p.out.front().size - p.out_offset;
      if (left < in_front) {
        p.out_offset += left;
        break;
      }
      left -= in_front;
      recycle(std::move(p.out.front()));
      p.out.pop_front();
      p.out_offset = 0;
    }
    if (*n < asked) break;  // the socket is full
  }
  if (p.out.empty()) {
    --pending_peers_;
    return set_write_interest(rank, false);
  }
  return ok();
}

Result<bool> TcpWorld::flush() {
  for (int r = 0; r < size() && pending_peers_ > 0; ++r) {
    if (peers_[static_cast<std::size_t>(r)].out.empty()) continue;
    if (auto flushed = flush_peer(r); !flushed) return std::move(flushed).error();
  }
  return pending_peers_ == 0;
}

// ---- receiving ----

void TcpWorld::set_buffered(Peer& p, bool on) noexcept {
  if (p.buffered == on) return;
  p.buffered = on;
  buffered_peers_ += on ? 1 : -1;
}

// Reads into `into`; 0 when nothing is there now. A closed or reset connection fails.
Result<std::size_t> TcpWorld::receive(int rank, std::span<std::byte> into) {
  auto& p = peers_[static_cast<std::size_t>(rank)];
  if (!p.stream) return std::size_t{0};  // dropped after a clean close (accept_closes)
  auto n = p.stream->read(into);
  if (!n) {
    if (n.error().is(ErrorKind::would_block)) return std::size_t{0};
    if (n.error().is(ErrorKind::closed) && accept_closes_ && p.in_begin == p.in_end &&
        !p.reading_large) {
      poller_->remove(p.stream->native_handle());
      p.stream.reset();
      p.readable = false;
      return std::size_t{0};
    }
    return peer_error(rank, std::move(n).error());
  }
  stats_.bytes_received += *n;
  return *n;
}

// Reads more of the large frame in progress. True once it is whole and delivered; false when
// the socket has no more now.
Result<bool> TcpWorld::read_large(int rank, const Deliver& deliver) {
  auto& p = peers_[static_cast<std::size_t>(rank)];
  while (p.large_got < p.large_size) {
    std::size_t want = p.large_size - p.large_got;
    auto n = receive(rank, std::span(p.large.get() + p.large_got, want));
    if (!n) return std::move(n).error();
    p.large_got += *n;
    if (*n < want && p.large_got < p.large_size) return false;
  }
  p.reading_large = false;
  ++stats_.frames_received;
  ++stats_.large_frames;
  deliver(rank, std::span<const std::byte>(p.large.get(), p.large_size));
  if (p.large_capacity > kKeepLarge) {
    p.large.reset();
    p.large_capacity = 0;
  }
  return true;
}

// Delivers up to `budget` whole frames from the input buffer. A large frame whose start is
// there moves to a buffer of its own (reading_large); a partial small one moves to the front.
Result<std::size_t> TcpWorld::deliver_buffered(int rank, const Deliver& deliver,
                                               std::size_t budget) {
  auto& p = peers_[static_cast<std::size_t>(rank)];
  std::size_t delivered = 0;
  std::uint64_t length = 0;
  bool whole = false;
  for (;;) {
    whole = false;
    std::size_t have = p.in_end - p.in_begin;
    if (have < kPrefix) break;
    length = get_u64(p.in.get() + p.in_begin);
    if (length > options_.max_frame)
      return peer_error(rank, Error(ErrorKind::too_large,
                                    "a frame of " + std::to_string(length) + " bytes (max_frame " +
                                        std::to_string(options_.max_frame) + ")"));
    whole = kPrefix + length <= have;
    if (!whole || delivered == budget) break;
    const std::byte* frame = p.in.get() + p.in_begin + kPrefix;
    p.in_begin += kPrefix + static_cast<std::size_t>(length);
    ++delivered;
    ++stats_.frames_received;
    deliver(rank, std::span<const std::byte>(frame, static_cast<std::size_t>(length)));
  }
  set_buffered(p, whole);
  if (whole) return delivered;
  std::size_t have = p.in_end - p.in_begin;
  if (have >= kPrefix && length > kLargeFrame) {
    auto size = static_cast<std::size_t>(length);
    if (p.large_capacity < size) {
      p.large.reset();  // before the next allocation: never two large buffers at once
      p.large = std::make_unique_for_overwrite<std::byte[]>(size);
      p.large_capacity = size;
    }
    p.large_size = size;
    p.large_got = have - kPrefix;
    std::memcpy(p.large.get(), p.in.get() + p.in_begin + kPrefix, p.large_got);
    p.reading_large = true;
    have = 0;
  } else if (have > 0 && p.in_begin > 0) {
    std::memmove(p.in.get(), p.in.get() + p.in_begin, have);
  }
  p.in_begin = 0;
  p.in_end = have;
  return delivered;
}

// Reads what `rank` sent and delivers up to `budget` whole frames. Stops when the socket has no
// more now (a read that returns less than it asked for) or at the budget.
Result<std::size_t> TcpWorld::read_peer(int rank, const Deliver& deliver, std::size_t budget) {
  auto& p = peers_[static_cast<std::size_t>(rank)];
  if (p.broken) return *p.broken;
  if (!p.in) p.in = std::make_unique_for_overwrite<std::byte[]>(kInBuffer);
  std::size_t delivered = 0;
  bool drained = false;
  while (delivered < budget) {
    if (p.reading_large) {
      auto done = read_large(rank, deliver);
      if (!done) return std::move(done).error();
      if (!*done) {
        p.readable = false;
        return delivered;
      }
      ++delivered;
      continue;
    }
    auto got = deliver_buffered(rank, deliver, budget - delivered);
    if (!got) return std::move(got).error();
    delivered += *got;
    if (delivered == budget || p.reading_large) continue;
    if (drained) break;
    std::size_t room = kInBuffer - p.in_end;
    auto n = receive(rank, std::span(p.in.get() + p.in_end, room));
    if (!n) return std::move(n).error();
    p.in_end += *n;
    drained = *n < room;
  }
  if (drained) p.readable = false;
  return delivered;
}

Result<std::size_t> TcpWorld::poll(const Deliver& deliver, std::size_t max_frames) {
  if (pending_peers_ > 0) {
    if (auto flushed = flush(); !flushed) return std::move(flushed).error();
  }
  // Which connections have data: what the last wait() saw, else a look that does not wait.
  if (ready_.empty()) {
    std::array<io::Poller::Event, io::Poller::kMaxEvents> events;
    std::size_t n = poller_->wait(events, std::chrono::milliseconds(0));
    ready_.assign(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(n));
  }
  for (const auto& event : ready_)
    if (event.key < peers_.size() && (event.readiness & (io::kReadable | io::kHangup)))
      peers_[event.key].readable = true;
  ready_.clear();
  std::size_t total = 0;
  bool again = true;
  while (again && total < max_frames) {
    again = false;
    for (int i = 0; i < size() && total < max_frames; ++i) {
      int from = next_poll_;
      next_poll_ = (next_poll_ + 1) % size();
      auto& p = peers_[static_cast<std::size_t>(from)];
      if (!p.stream || !(p.readable || p.buffered)) continue;
      std::size_t limit = std::min(kBatch, max_frames - total);
      auto got = read_peer(from, deliver, limit);
      if (!got) return std::move(got).error();
      total += *got;
      if (*got == limit) again = true;
    }
  }
  if (pending_peers_ > 0) {
    if (auto flushed = flush(); !flushed) return std::move(flushed).error();
  }
  return total;
}

Result<bool> TcpWorld::wait(Timeout timeout) {
  if (buffered_peers_ > 0 || !ready_.empty()) return true;
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  std::array<io::Poller::Event, io::Poller::kMaxEvents> events;
  ++stats_.waits;
  std::size_t n = poller_->wait(events, timeout);
  if (n > 0) {
    ready_.assign(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(n));
    return true;
  }
  // Nothing ready: the timeout passed, or wake() (or a signal) ended the wait early.
  return !timeout.has_value() || Clock::now() - start < *timeout;
}

}  // namespace nexo::mpi
