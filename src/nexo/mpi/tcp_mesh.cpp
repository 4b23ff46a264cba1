#include "nexo/mpi/tcp_mesh.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>

#include "nexo/io/poller.hpp"
#include "nexo/net/endpoint.hpp"

namespace nexo::mpi::tcp_mesh {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr char kMagic[8] = {'N', 'X', 'M', 'P', 'I', 'T', 'C', 'P'};
// Keys of the handshake's poller: a lower rank's connection is keyed by its rank.
constexpr std::uint64_t kListenerKey = std::uint64_t{1} << 62;
constexpr std::uint64_t kIncomingBase = std::uint64_t{1} << 61;
// While a peer's listener refuses (it should not: listeners exist before the table is
// published), try again after this long.
constexpr auto kRetryAfter = 20ms;

template <class T>
void put_le(std::byte* out, T value) {
  for (std::size_t i = 0; i < sizeof(T); ++i)
    out[i] = static_cast<std::byte>((static_cast<std::uint64_t>(value) >> (8 * i)) & 0xff);
}

template <class T>
T get_le(const std::byte* in) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i)
    value |= static_cast<std::uint64_t>(in[i]) << (8 * i);
  return static_cast<T>(value);
}

// A lower rank this rank connects to.
struct Outgoing {
  int rank = 0;
  net::Endpoint endpoint;
  std::optional<net::TcpStream> stream;  // connected, hello sent
  Clock::time_point next_try{};
  std::string last_error;  // of the last failed attempt
  std::array<std::byte, kHelloBytes> reply{};
  std::size_t got = 0;
  bool done = false;
};

// A connection accepted from somebody who has not said who it is yet.
struct Incoming {
  std::optional<net::TcpStream> stream;
  std::array<std::byte, kHelloBytes> hello{};
  std::size_t got = 0;
};

class MeshBuilder {
 public:
  MeshBuilder(net::TcpListener listener, int rank,
              std::span<const std::optional<std::string>> addresses, std::string_view cookie,
              io::Poller poller)
      : listener_(std::move(listener)),
        rank_(rank),
        addresses_(addresses),
        cookie_(cookie),
        poller_(std::move(poller)),
        result_(addresses.size()) {}

  Result<void> plan();
  Result<std::vector<std::optional<net::TcpStream>>> run(Timeout timeout);

 private:
  std::string where() const { return "tcp mesh of rank " + std::to_string(rank_); }
  Hello my_hello() const {
    return Hello{rank_, static_cast<std::uint32_t>(addresses_.size()), std::string(cookie_)};
  }
  bool complete() const { return connected_ == expected_; }
  Result<void> try_connect(Outgoing& out, Clock::time_point deadline);
  Result<void> on_listener();
  Result<void> on_outgoing(Outgoing& out);
  void on_incoming(std::size_t index);
  std::optional<std::string> check_incoming(const Hello& hello) const;
  void refuse(std::size_t index, std::string why);
  Error timed_out(Timeout timeout) const;

  net::TcpListener listener_;
  int rank_;
  std::span<const std::optional<std::string>> addresses_;
  std::string_view cookie_;
  io::Poller poller_;
  std::vector<Outgoing> outgoing_;
  std::vector<Incoming> incoming_;
  std::vector<std::string> refusals_;  // connections refused, for the timeout's error
  std::vector<std::optional<net::TcpStream>> result_;
  std::size_t expected_ = 0;
  std::size_t connected_ = 0;
};

Result<void> MeshBuilder::plan() {
  for (std::size_t p = 0; p < addresses_.size(); ++p) {
    int peer = static_cast<int>(p);
    if (peer == rank_ || !addresses_[p]) continue;
    ++expected_;
    if (peer > rank_) continue;  // it connects to us
    auto endpoint = net::Endpoint::parse(*addresses_[p]);
    if (!endpoint)
      return std::move(endpoint).error().with_context(where() + ": the address of rank " +
                                                      std::to_string(peer));
    Outgoing out;
    out.rank = peer;
    out.endpoint = *endpoint;
    outgoing_.push_back(std::move(out));
  }
  if (auto nb = listener_.set_non_blocking(true); !nb) return nb;
  return poller_.add(listener_.native_handle(), io::kReadable, kListenerKey);
}

Result<void> MeshBuilder::try_connect(Outgoing& out, Clock::time_point deadline) {
  // One attempt waits at most a second (an address that drops SYNs), and never past the deadline.
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  auto stream = net::TcpStream::connect(out.endpoint, std::clamp(left, 1ms, 1000ms));
  if (!stream) {
    out.last_error = stream.error().message();
    out.next_try = Clock::now() + kRetryAfter;
    return ok();
  }
  auto hello = encode_hello(my_hello());
  // A fresh connection's send buffer takes the hello whole: a blocking write returns at once.
  Result<void> set = stream->write_all(hello);
  if (set) set = stream->set_non_blocking(true);
  if (set)
    set = poller_.add(stream->native_handle(), io::kReadable, static_cast<std::uint64_t>(out.rank));
  if (!set)
    return std::move(set).error().with_context(where() + ": hello to rank " +
                                               std::to_string(out.rank));
  out.stream = std::move(*stream);
  return ok();
}

Result<void> MeshBuilder::on_listener() {
  for (;;) {
    auto stream = listener_.accept();
    if (!stream) {
      if (stream.error().is(ErrorKind::would_block)) return ok();
      return std::move(stream).error().with_context(where());
    }
    auto set = stream->set_non_blocking(true);
    std::uint64_t key = kIncomingBase + incoming_.size();
    if (set) set = poller_.add(stream->native_handle(), io::kReadable, key);
    if (!set) return std::move(set).error().with_context(where() + ": accept");
    Incoming in;
    in.stream = std::move(*stream);
    incoming_.push_back(std::move(in));
  }
}

Result<void> MeshBuilder::on_outgoing(Outgoing& out) {
  if (out.done || !out.stream) return ok();
  auto n = out.stream->read(std::span(out.reply).subspan(out.got));
  const std::string who = "rank " + std::to_string(out.rank) + " at " + out.endpoint.to_string();
  if (!n) {
    if (n.error().is(ErrorKind::would_block)) return ok();
    return Error(ErrorKind::refused, where() + ": " + who +
                                         " closed the connection instead of answering our hello"
                                         " (another job, or a table that disagrees): " +
                                         n.error().message());
  }
  out.got += *n;
  if (out.got < kHelloBytes) return ok();
  auto hello = decode_hello(out.reply);
  if (!hello)
    return Error(ErrorKind::refused,
                 where() + ": " + who + " answered with a bad hello: " + hello.error().message());
  if (hello->cookie != cookie_ || hello->rank != out.rank || hello->world_size != addresses_.size())
    return Error(ErrorKind::refused, where() + ": " + who + " answered as rank " +
                                         std::to_string(hello->rank) + " of a world of " +
                                         std::to_string(hello->world_size) +
                                         (hello->cookie != cookie_ ? " of another job" : ""));
  out.done = true;
  poller_.remove(out.stream->native_handle());
  result_[static_cast<std::size_t>(out.rank)] = std::move(out.stream);
  out.stream.reset();
  ++connected_;
  return ok();
}

std::optional<std::string> MeshBuilder::check_incoming(const Hello& hello) const {
  if (hello.cookie != cookie_) return "another job's cookie";
  if (hello.world_size != addresses_.size())
    return "a world of " + std::to_string(hello.world_size) + " ranks, not " +
           std::to_string(addresses_.size());
  if (hello.rank <= rank_ || static_cast<std::size_t>(hello.rank) >= addresses_.size())
    return "rank " + std::to_string(hello.rank) + ", which connects to no rank here";
  if (!addresses_[static_cast<std::size_t>(hello.rank)])
    return "rank " + std::to_string(hello.rank) + ", which our table does not reach over TCP";
  if (result_[static_cast<std::size_t>(hello.rank)])
    return "rank " + std::to_string(hello.rank) + ", already connected";
  return std::nullopt;
}

void MeshBuilder::refuse(std::size_t index, std::string why) {
  auto& in = incoming_[index];
  std::string from = in.stream->peer_endpoint().to_string();
  poller_.remove(in.stream->native_handle());
  in.stream.reset();  // closes it: the peer reads closed
  refusals_.push_back("a connection from " + from + " refused: " + why);
}

void MeshBuilder::on_incoming(std::size_t index) {
  auto& in = incoming_[index];
  if (!in.stream) return;
  auto n = in.stream->read(std::span(in.hello).subspan(in.got));
  if (!n) {
    if (!n.error().is(ErrorKind::would_block))
      refuse(index, "it closed before its hello (" + n.error().message() + ")");
    return;
  }
  in.got += *n;
  if (in.got < kHelloBytes) return;
  auto hello = decode_hello(in.hello);
  if (!hello) return refuse(index, hello.error().message());
  if (auto wrong = check_incoming(*hello)) return refuse(index, "its hello says " + *wrong);
  // The reply goes into an empty send buffer: it is taken whole.
  auto reply = encode_hello(my_hello());
  auto sent = in.stream->write(reply);
  if (!sent || *sent != reply.size()) return refuse(index, "the reply to its hello did not go out");
  poller_.remove(in.stream->native_handle());
  result_[static_cast<std::size_t>(hello->rank)] = std::move(in.stream);
  in.stream.reset();
  ++connected_;
}

Error MeshBuilder::timed_out(Timeout timeout) const {
  std::string missing;
  auto add = [&](std::string what) { missing += (missing.empty() ? "" : "; ") + what; };
  for (const auto& out : outgoing_) {
    if (out.done) continue;
    add("rank " + std::to_string(out.rank) + " at " + out.endpoint.to_string() +
        (out.stream
             ? " (connected, no answer to our hello)"
             : " (connect: " + (out.last_error.empty() ? "not tried" : out.last_error) + ")"));
  }
  for (std::size_t p = static_cast<std::size_t>(rank_) + 1; p < addresses_.size(); ++p)
    if (addresses_[p] && !result_[p])
      add("rank " + std::to_string(p) + " (at " + *addresses_[p] + ") never connected to us at " +
          listener_.local_endpoint().to_string());
  std::string message = where() + ": not connected within " +
                        std::to_string(timeout ? timeout->count() : 0) + " ms: " + missing;
  for (const auto& refusal : refusals_)
    message += "; " + refusal;
  return Error(ErrorKind::timed_out, std::move(message));
}

Result<std::vector<std::optional<net::TcpStream>>> MeshBuilder::run(Timeout timeout) {
  const auto deadline = timeout ? Clock::now() + *timeout : Clock::time_point::max();
  std::array<io::Poller::Event, io::Poller::kMaxEvents> events;
  while (!complete()) {
    auto now = Clock::now();
    auto next = deadline;
    for (auto& out : outgoing_) {
      if (out.stream || out.done) continue;
      if (out.next_try <= now) {
        if (auto tried = try_connect(out, deadline); !tried) return std::move(tried).error();
      }
      if (!out.stream) next = std::min(next, out.next_try);
    }
    now = Clock::now();
    if (now >= deadline) return timed_out(timeout);
    Timeout wait_for;
    if (next != Clock::time_point::max())
      wait_for =
          std::chrono::ceil<std::chrono::milliseconds>(std::max(next - now, Clock::duration{}));
    std::size_t n = poller_.wait(events, wait_for);
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t key = events[i].key;
      if (key == kListenerKey) {
        if (auto accepted = on_listener(); !accepted) return std::move(accepted).error();
      } else if (key >= kIncomingBase) {
        on_incoming(static_cast<std::size_t>(key - kIncomingBase));
      } else {
        auto it = std::find_if(outgoing_.begin(), outgoing_.end(),
                               [&](const Outgoing& o) { return o.rank == static_cast<int>(key); });
        if (it == outgoing_.end()) continue;
        if (auto answered = on_outgoing(*it); !answered) return std::move(answered).error();
      }
    }
  }
  return std::move(result_);
}

}  // namespace

std::array<std::byte, kHelloBytes> encode_hello(const Hello& hello) {
  std::array<std::byte, kHelloBytes> out{};
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  put_le<std::uint16_t>(out.data() + 8, kVersion);
  put_le<std::uint16_t>(out.data() + 10, static_cast<std::uint16_t>(hello.cookie.size()));
  put_le<std::int32_t>(out.data() + 12, hello.rank);
  put_le<std::uint32_t>(out.data() + 16, hello.world_size);
  std::memcpy(out.data() + 24, hello.cookie.data(), std::min(hello.cookie.size(), kMaxCookie));
  return out;
}

Result<Hello> decode_hello(std::span<const std::byte, kHelloBytes> bytes) {
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    return Error(ErrorKind::malformed, "not an MPI TCP hello (bad magic)");
  auto version = get_le<std::uint16_t>(bytes.data() + 8);
  if (version != kVersion)
    return Error(ErrorKind::malformed,
                 "hello version " + std::to_string(version) + ", not " + std::to_string(kVersion));
  auto cookie_length = get_le<std::uint16_t>(bytes.data() + 10);
  if (cookie_length > kMaxCookie)
    return Error(ErrorKind::malformed, "hello cookie length " + std::to_string(cookie_length) +
                                           " over " + std::to_string(kMaxCookie));
  Hello hello;
  hello.rank = get_le<std::int32_t>(bytes.data() + 12);
  hello.world_size = get_le<std::uint32_t>(bytes.data() + 16);
  hello.cookie.assign(reinterpret_cast<const char*>(bytes.data() + 24), cookie_length);
  return hello;
}

Result<std::vector<std::optional<net::TcpStream>>> build(
    net::TcpListener listener, int rank, std::span<const std::optional<std::string>> addresses,
    std::string_view job_cookie, Timeout timeout) {
  const std::string where = "tcp mesh of rank " + std::to_string(rank);
  if (addresses.empty() ||
      addresses.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    return Error(ErrorKind::invalid_argument,
                 where + ": a table of " + std::to_string(addresses.size()) + " ranks");
  if (rank < 0 || static_cast<std::size_t>(rank) >= addresses.size())
    return Error(ErrorKind::invalid_argument,
                 where + ": not a rank of a world of " + std::to_string(addresses.size()));
  if (job_cookie.size() > kMaxCookie)
    return Error(ErrorKind::invalid_argument,
                 where + ": a job cookie of " + std::to_string(job_cookie.size()) +
                     " bytes (at most " + std::to_string(kMaxCookie) + ")");
  if (!listener.is_open())
    return Error(ErrorKind::invalid_argument, where + ": the listener is closed");
  auto poller = io::Poller::create();
  if (!poller) return std::move(poller).error().with_context(where);
  MeshBuilder builder(std::move(listener), rank, addresses, job_cookie, std::move(*poller));
  if (auto planned = builder.plan(); !planned) return std::move(planned).error();
  return builder.run(timeout);
}

}  // namespace nexo::mpi::tcp_mesh
