#include "nexo/mpi/control.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "nexo/net/endpoint.hpp"
#include "nexo/net/inet_address.hpp"

namespace nexo::mpi {
namespace {

Error bad_env(const char* name, std::string_view value, std::string_view should) {
  return Error(ErrorKind::invalid_argument, std::string(name) + "='" + std::string(value) +
                                                "': " + std::string(should) +
                                                " (nexorun sets it; is this rank started by it?)");
}

Error missing_env(const char* name) {
  return Error(ErrorKind::invalid_argument,
               std::string(name) + " is not set, but NEXO_MPI_RANK is: a launched rank needs it " +
                   "(start the program with nexorun, or unset NEXO_MPI_RANK to run it alone)");
}

// A decimal integer in [low, high], the whole text.
std::optional<long> parse_int(std::string_view text, long low, long high) {
  long value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < low || value > high)
    return std::nullopt;
  return value;
}

Result<int> env_int(const std::function<const char*(const char*)>& lookup, const char* name,
                    long low, long high) {
  const char* value = lookup(name);
  if (value == nullptr) return missing_env(name);
  auto parsed = parse_int(value, low, high);
  if (!parsed) {
    return bad_env(name, value,
                   "expected an integer in " + std::to_string(low) + ".." + std::to_string(high));
  }
  return static_cast<int>(*parsed);
}

void put_le(Bytes& out, std::uint64_t value, int size) {
  for (int i = 0; i < size; ++i)
    out.push_back(static_cast<std::byte>(value >> (8 * i)));
}

}  // namespace

// --- environment -------------------------------------------------------------------------------

bool is_job_id(std::string_view job) noexcept {
  return job.size() == 32 && std::all_of(job.begin(), job.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Result<HostPort> split_host_port(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Error(ErrorKind::invalid_argument,
                 "'" + std::string(text) + "' is not host:port: " + std::string(why));
  };
  HostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad("an IPv6 address is written [address]:port");
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("no ':port'");
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (out.host.find(':') != std::string::npos)
      return bad("an IPv6 address is written [address]:port");
  }
  if (out.host.empty()) return bad("no host");
  auto port = parse_int(port_text, 1, 65535);
  if (!port) return bad("the port is not a number in 1..65535");
  out.port = static_cast<std::uint16_t>(*port);
  return out;
}

Result<std::optional<RankEnv>> parse_rank_env(
    const std::function<const char*(const char*)>& lookup) {
  if (lookup(kEnvRank) == nullptr) return std::optional<RankEnv>();
  RankEnv env;
  auto size = env_int(lookup, kEnvSize, 1, kMaxWorldSize);
  if (!size) return size.error();
  env.size = *size;
  auto rank = env_int(lookup, kEnvRank, 0, env.size - 1);
  if (!rank) return rank.error().with_context("with NEXO_MPI_SIZE=" + std::to_string(env.size));
  env.rank = *rank;

  const char* job = lookup(kEnvJob);
  if (job == nullptr) return missing_env(kEnvJob);
  if (!is_job_id(job)) return bad_env(kEnvJob, job, "expected 32 lowercase hex digits");
  env.job = job;

  const char* control = lookup(kEnvControl);
  if (control == nullptr) return missing_env(kEnvControl);
  if (auto hp = split_host_port(control); !hp)
    return bad_env(kEnvControl, control, hp.error().message());
  env.control = control;

  const char* host = lookup(kEnvHost);
  if (host == nullptr) return missing_env(kEnvHost);
  const std::string_view host_view(host);
  if (host_view.empty() || host_view.size() > kMaxHostName)
    return bad_env(kEnvHost, host, "expected a host name of 1..255 characters");
  env.host = host;

  if (const char* shm = lookup(kEnvShm); shm != nullptr) {
    const std::string_view spec(shm);
    if (!spec.starts_with("fd:") && !spec.starts_with("name:"))
      return bad_env(kEnvShm, shm, "expected fd:N or name:/NAME");
    env.shm = std::string(spec);
    auto local_size = env_int(lookup, kEnvLocalSize, 1, kMaxWorldSize);
    if (!local_size) return local_size.error();
    env.local_size = *local_size;
    auto local_rank = env_int(lookup, kEnvLocalRank, 0, env.local_size - 1);
    if (!local_rank) {
      return local_rank.error().with_context("with NEXO_MPI_LOCAL_SIZE=" +
                                             std::to_string(env.local_size));
    }
    env.local_rank = *local_rank;
  }

  if (const char* transport = lookup(kEnvTransport); transport != nullptr) {
    const std::string_view t(transport);
    if (t == "auto" || t.empty()) {
      env.transport = RankTransport::automatic;
    } else if (t == "tcp") {
      env.transport = RankTransport::tcp;
    } else {
      return bad_env(kEnvTransport, transport, "expected auto or tcp");
    }
  }
  if (const char* bind = lookup(kEnvBind); bind != nullptr) {
    if (!net::InetAddress::parse(bind)) return bad_env(kEnvBind, bind, "expected an IP address");
    env.bind = bind;
  }
  if (const char* trace = lookup(kEnvTrace); trace != nullptr) {
    if (*trace == '\0') return bad_env(kEnvTrace, trace, "expected a path prefix");
    env.trace = std::string(trace);
  }
  return std::optional<RankEnv>(std::move(env));
}

Result<std::optional<RankEnv>> read_rank_env() {
  return parse_rank_env([](const char* name) { return std::getenv(name); });
}

// --- messages ----------------------------------------------------------------------------------

std::string to_string(ControlType type) {
  switch (type) {
    case ControlType::hello:
      return "HELLO";
    case ControlType::table:
      return "TABLE";
    case ControlType::abort:
      return "ABORT";
    case ControlType::abort_ack:
      return "ABORT_ACK";
    case ControlType::finalized:
      return "FINALIZED";
    case ControlType::finalized_ack:
      return "FINALIZED_ACK";
    case ControlType::refused:
      return "REFUSED";
  }
  return "type " + std::to_string(static_cast<int>(type));
}

ControlWriter::ControlWriter(std::uint8_t type) {
  out_.resize(kControlHeaderSize);
  out_[4] = static_cast<std::byte>(type);
}

ControlWriter& ControlWriter::u8(std::uint8_t value) {
  out_.push_back(static_cast<std::byte>(value));
  return *this;
}

ControlWriter& ControlWriter::u32(std::uint32_t value) {
  put_le(out_, value, 4);
  return *this;
}

ControlWriter& ControlWriter::u64(std::uint64_t value) {
  put_le(out_, value, 8);
  return *this;
}

ControlWriter& ControlWriter::str(std::string_view text, std::size_t limit) {
  if (text.size() > limit || text.size() > 0xffff) {
    if (!error_) {
      error_ = "a string of " + std::to_string(text.size()) + " bytes is over its limit of " +
               std::to_string(limit);
    }
    return *this;
  }
  put_le(out_, text.size(), 2);
  auto view = as_bytes(text);
  out_.insert(out_.end(), view.begin(), view.end());
  return *this;
}

ControlWriter& ControlWriter::bytes(std::span<const std::byte> data) {
  put_le(out_, data.size(), 4);
  out_.insert(out_.end(), data.begin(), data.end());
  return *this;
}

Result<Bytes> ControlWriter::finish() {
  const std::size_t length = out_.size() - 4;
  if (error_) return Error(ErrorKind::invalid_argument, "control message: " + *error_);
  if (length > kMaxControlMessage) {
    return Error(ErrorKind::too_large, "control message of " + std::to_string(length) +
                                           " bytes is over the limit of " +
                                           std::to_string(kMaxControlMessage));
  }
  for (int i = 0; i < 4; ++i)
    out_[static_cast<std::size_t>(i)] = static_cast<std::byte>(length >> (8 * i));
  return std::move(out_);
}

Error ControlReader::malformed(std::string_view field, std::string_view why) const {
  return Error(ErrorKind::malformed,
               "control message " + what_ + ", " + std::string(field) + ": " + std::string(why));
}

Result<std::span<const std::byte>> ControlReader::take(std::size_t n, std::string_view field) {
  if (body_.size() - pos_ < n) {
    return malformed(field, "the message ends early (" + std::to_string(body_.size() - pos_) +
                                " bytes left, " + std::to_string(n) + " needed)");
  }
  auto out = body_.subspan(pos_, n);
  pos_ += n;
  return out;
}

namespace {
std::uint64_t get_le(std::span<const std::byte> bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i)
    value |= std::uint64_t{std::to_integer<std::uint8_t>(bytes[i])} << (8 * i);
  return value;
}
}  // namespace

Result<std::uint8_t> ControlReader::u8(std::string_view field) {
  auto b = take(1, field);
  if (!b) return b.error();
  return static_cast<std::uint8_t>(get_le(*b));
}

Result<std::uint32_t> ControlReader::u32(std::string_view field) {
  auto b = take(4, field);
  if (!b) return b.error();
  return static_cast<std::uint32_t>(get_le(*b));
}

Result<std::int32_t> ControlReader::i32(std::string_view field) {
  auto v = u32(field);
  if (!v) return v.error();
  return static_cast<std::int32_t>(*v);
}

Result<std::uint64_t> ControlReader::u64(std::string_view field) {
  auto b = take(8, field);
  if (!b) return b.error();
  return get_le(*b);
}

Result<std::string> ControlReader::str(std::string_view field, std::size_t limit) {
  auto len = take(2, field);
  if (!len) return len.error();
  const std::size_t n = get_le(*len);
  if (n > limit) {
    return malformed(field, "a string of " + std::to_string(n) + " bytes, over the limit of " +
                                std::to_string(limit));
  }
  auto b = take(n, field);
  if (!b) return b.error();
  return std::string(as_text(*b));
}

Result<Bytes> ControlReader::bytes(std::string_view field, std::size_t limit) {
  auto len = u32(field);
  if (!len) return len.error();
  if (*len > limit) {
    return malformed(field,
                     std::to_string(*len) + " bytes, over the limit of " + std::to_string(limit));
  }
  auto b = take(*len, field);
  if (!b) return b.error();
  return Bytes(b->begin(), b->end());
}

Result<void> ControlReader::end() {
  if (pos_ != body_.size())
    return malformed("end", std::to_string(body_.size() - pos_) + " trailing bytes");
  return ok();
}

Result<Bytes> encode_hello(const Hello& h) {
  ControlWriter w(static_cast<std::uint8_t>(ControlType::hello));
  w.str(h.job, 32)
      .u32(static_cast<std::uint32_t>(h.rank))
      .u32(static_cast<std::uint32_t>(h.size))
      .u32(static_cast<std::uint32_t>(h.pid))
      .str(h.host, kMaxHostName)
      .str(h.tcp, kMaxAddressText);
  return w.finish();
}

Result<Bytes> encode_table(const WorldTable& table) {
  ControlWriter w(static_cast<std::uint8_t>(ControlType::table));
  w.u32(static_cast<std::uint32_t>(table.size()));
  for (const auto& r : table) {
    w.str(r.host, kMaxHostName)
        .u32(static_cast<std::uint32_t>(r.local_rank))
        .u32(static_cast<std::uint32_t>(r.pid))
        .str(r.tcp, kMaxAddressText);
  }
  return w.finish();
}

Result<Bytes> encode_abort(const AbortRequest& request) {
  ControlWriter w(static_cast<std::uint8_t>(ControlType::abort));
  w.i32(request.errorcode).str(request.why.substr(0, kMaxAbortReason), kMaxAbortReason);
  return w.finish();
}

Result<Bytes> encode_refused(std::string_view why) {
  ControlWriter w(static_cast<std::uint8_t>(ControlType::refused));
  w.str(why.substr(0, kMaxAbortReason), kMaxAbortReason);
  return w.finish();
}

Bytes encode_empty(ControlType type) {
  return Bytes{std::byte{1}, std::byte{0}, std::byte{0}, std::byte{0},
               static_cast<std::byte>(type)};
}

Result<Hello> decode_hello(std::span<const std::byte> body) {
  ControlReader r(body, "HELLO");
  Hello h;
  auto job = r.str("job", 32);
  if (!job) return job.error();
  if (!is_job_id(*job)) return r.malformed("job", "not 32 lowercase hex digits");
  h.job = std::move(*job);
  auto rank = r.u32("rank");
  if (!rank) return rank.error();
  auto size = r.u32("size");
  if (!size) return size.error();
  if (*size < 1 || *size > kMaxWorldSize)
    return r.malformed("size", std::to_string(*size) + " is not in 1..4096");
  if (*rank >= *size) return r.malformed("rank", std::to_string(*rank) + " >= size");
  h.rank = static_cast<int>(*rank);
  h.size = static_cast<int>(*size);
  auto pid = r.u32("pid");
  if (!pid) return pid.error();
  h.pid = static_cast<pid_t>(*pid);
  auto host = r.str("host", kMaxHostName);
  if (!host) return host.error();
  h.host = std::move(*host);
  auto tcp = r.str("tcp", kMaxAddressText);
  if (!tcp) return tcp.error();
  h.tcp = std::move(*tcp);
  if (auto end = r.end(); !end) return end.error();
  return h;
}

Result<WorldTable> decode_table(std::span<const std::byte> body) {
  ControlReader r(body, "TABLE");
  auto size = r.u32("size");
  if (!size) return size.error();
  if (*size < 1 || *size > kMaxWorldSize)
    return r.malformed("size", std::to_string(*size) + " is not in 1..4096");
  WorldTable table;
  table.reserve(*size);
  for (std::uint32_t i = 0; i < *size; ++i) {
    RankInfo info;
    const std::string at = "rank " + std::to_string(i);
    auto host = r.str(at + " host", kMaxHostName);
    if (!host) return host.error();
    info.host = std::move(*host);
    auto local = r.u32(at + " local_rank");
    if (!local) return local.error();
    if (*local >= kMaxWorldSize) return r.malformed(at + " local_rank", "out of range");
    info.local_rank = static_cast<int>(*local);
    auto pid = r.u32(at + " pid");
    if (!pid) return pid.error();
    info.pid = static_cast<pid_t>(*pid);
    auto tcp = r.str(at + " tcp", kMaxAddressText);
    if (!tcp) return tcp.error();
    info.tcp = std::move(*tcp);
    table.push_back(std::move(info));
  }
  if (auto end = r.end(); !end) return end.error();
  return table;
}

Result<AbortRequest> decode_abort(std::span<const std::byte> body) {
  ControlReader r(body, "ABORT");
  AbortRequest a;
  auto code = r.i32("errorcode");
  if (!code) return code.error();
  a.errorcode = *code;
  auto why = r.str("why", kMaxAbortReason);
  if (!why) return why.error();
  a.why = std::move(*why);
  if (auto end = r.end(); !end) return end.error();
  return a;
}

Result<std::string> decode_refused(std::span<const std::byte> body) {
  ControlReader r(body, "REFUSED");
  auto why = r.str("why", kMaxAbortReason);
  if (!why) return why.error();
  if (auto end = r.end(); !end) return end.error();
  return std::move(*why);
}

Result<void> decode_empty(ControlType type, std::span<const std::byte> body) {
  ControlReader r(body, to_string(type));
  return r.end();
}

void ControlDecoder::feed(std::span<const std::byte> data) {
  if (start_ > 0 && start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  }
  buffer_.insert(buffer_.end(), data.begin(), data.end());
}

Result<std::optional<ControlMessage>> ControlDecoder::next() {
  const std::size_t have = buffer_.size() - start_;
  if (have < 4) return std::optional<ControlMessage>();
  std::uint32_t length = 0;
  for (int i = 0; i < 4; ++i) {
    length |=
        std::uint32_t{std::to_integer<std::uint8_t>(buffer_[start_ + static_cast<std::size_t>(i)])}
        << (8 * i);
  }
  if (length == 0 || length > max_) {
    return Error(ErrorKind::malformed, "control message length " + std::to_string(length) +
                                           " is not in 1.." + std::to_string(max_));
  }
  if (have < 4 + std::size_t{length}) return std::optional<ControlMessage>();
  ControlMessage m;
  m.type = std::to_integer<std::uint8_t>(buffer_[start_ + 4]);
  const auto body_begin = buffer_.begin() + static_cast<std::ptrdiff_t>(start_ + 5);
  m.body.assign(body_begin, body_begin + static_cast<std::ptrdiff_t>(length - 1));
  start_ += 4 + std::size_t{length};
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  } else if (start_ > 65536 && start_ * 2 > buffer_.size()) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(start_));
    start_ = 0;
  }
  return std::optional<ControlMessage>(std::move(m));
}

Result<ControlMessage> read_message(net::TcpStream& stream, std::size_t max_message,
                                    std::string_view peer) {
  std::byte header[kControlHeaderSize];
  if (auto r = stream.read_exact(header); !r) {
    return std::move(r).error().with_context("control connection to " + std::string(peer));
  }
  std::uint32_t length = 0;
  for (int i = 0; i < 4; ++i)
    length |= std::uint32_t{std::to_integer<std::uint8_t>(header[i])} << (8 * i);
  if (length == 0 || length > max_message) {
    return Error(ErrorKind::malformed, "control connection to " + std::string(peer) +
                                           ": message length " + std::to_string(length) +
                                           " is not in 1.." + std::to_string(max_message));
  }
  ControlMessage m;
  m.type = std::to_integer<std::uint8_t>(header[4]);
  m.body.resize(length - 1);
  if (auto r = stream.read_exact(m.body); !r) {
    return std::move(r).error().with_context("control connection to " + std::string(peer));
  }
  return m;
}

// --- rank side ---------------------------------------------------------------------------------

Result<ControlClient> ControlClient::connect(std::string_view host_port, Timeout timeout) {
  auto hp = split_host_port(host_port);
  if (!hp) return std::move(hp).error().with_context("control connection");
  auto stream = net::TcpStream::connect(hp->host, hp->port, timeout);
  if (!stream) {
    return std::move(stream).error().with_context("control connection to the launcher at " +
                                                  std::string(host_port));
  }
  (void)stream->set_no_delay(true);
  return ControlClient(std::move(*stream), std::string(host_port));
}

Result<ControlMessage> ControlClient::receive(Timeout timeout, std::string_view waiting_for) {
  if (auto r = stream_.set_read_timeout(timeout); !r) return r.error();
  auto m = read_message(stream_, kMaxControlMessage, launcher_);
  if (!m) return std::move(m).error().with_context("waiting for " + std::string(waiting_for));
  if (m->type == static_cast<std::uint8_t>(ControlType::refused)) {
    auto why = decode_refused(m->body);
    if (!why) return why.error();
    return Error(ErrorKind::refused,
                 "the launcher at " + launcher_ + " refused this rank: " + *why);
  }
  return m;
}

Result<WorldTable> ControlClient::exchange(const Hello& hello, Timeout timeout) {
  auto bytes = encode_hello(hello);
  if (!bytes) return bytes.error();
  if (auto w = stream_.write_all(*bytes); !w) {
    return std::move(w).error().with_context("sending HELLO to the launcher at " + launcher_);
  }
  auto m = receive(timeout, "the TABLE (every rank's HELLO)");
  if (!m) return m.error();
  if (m->type != static_cast<std::uint8_t>(ControlType::table)) {
    return Error(ErrorKind::malformed, "the launcher at " + launcher_ + " sent " +
                                           to_string(static_cast<ControlType>(m->type)) +
                                           " where the TABLE was due");
  }
  auto table = decode_table(m->body);
  if (!table) return table.error();
  if (static_cast<int>(table->size()) != hello.size) {
    return Error(ErrorKind::malformed, "the TABLE has " + std::to_string(table->size()) +
                                           " ranks, the job " + std::to_string(hello.size));
  }
  return table;
}

Result<void> ControlClient::await_ack(ControlType ack, Timeout timeout) {
  auto m = receive(timeout, to_string(ack));
  if (!m) return m.error();
  if (m->type != static_cast<std::uint8_t>(ack)) {
    return Error(ErrorKind::malformed, "the launcher at " + launcher_ + " sent " +
                                           to_string(static_cast<ControlType>(m->type)) +
                                           " where " + to_string(ack) + " was due");
  }
  return decode_empty(ack, m->body);
}

Result<void> ControlClient::abort(int errorcode, std::string_view why, Timeout timeout) {
  auto bytes = encode_abort({errorcode, std::string(why.substr(0, kMaxAbortReason))});
  if (!bytes) return bytes.error();
  if (auto w = stream_.write_all(*bytes); !w) {
    return std::move(w).error().with_context("sending ABORT to the launcher at " + launcher_);
  }
  return await_ack(ControlType::abort_ack, timeout);
}

Result<void> ControlClient::finalized(Timeout timeout) {
  if (auto w = stream_.write_all(encode_empty(ControlType::finalized)); !w) {
    return std::move(w).error().with_context("sending FINALIZED to the launcher at " + launcher_);
  }
  return await_ack(ControlType::finalized_ack, timeout);
}

// --- launcher side -----------------------------------------------------------------------------

HelloCollector::HelloCollector(std::string job, std::vector<Placement> placement)
    : job_(std::move(job)),
      placement_(std::move(placement)),
      info_(placement_.size()),
      arrived_(placement_.size(), false) {}

Result<void> HelloCollector::add(const Hello& h) {
  auto refuse = [](std::string why) { return Error(ErrorKind::refused, std::move(why)); };
  if (h.job != job_) return refuse("HELLO of another job (" + h.job + ")");
  if (h.size != static_cast<int>(placement_.size())) {
    return refuse("HELLO of rank " + std::to_string(h.rank) + " says the job has " +
                  std::to_string(h.size) + " ranks, it has " + std::to_string(placement_.size()));
  }
  if (h.rank < 0 || h.rank >= h.size)
    return refuse("HELLO of rank " + std::to_string(h.rank) + ", out of range");
  const auto i = static_cast<std::size_t>(h.rank);
  if (arrived_[i]) {
    return refuse("a second HELLO of rank " + std::to_string(h.rank) + " (pid " +
                  std::to_string(h.pid) + "; the first was pid " + std::to_string(info_[i].pid) +
                  ")");
  }
  if (h.host != placement_[i].host) {
    return refuse("HELLO of rank " + std::to_string(h.rank) + " from host '" + h.host +
                  "', it was placed on '" + placement_[i].host + "'");
  }
  info_[i] = RankInfo{h.host, placement_[i].local_rank, h.pid, h.tcp};
  arrived_[i] = true;
  ++count_;
  return ok();
}

std::vector<int> HelloCollector::missing() const {
  std::vector<int> out;
  for (std::size_t i = 0; i < arrived_.size(); ++i)
    if (!arrived_[i]) out.push_back(static_cast<int>(i));
  return out;
}

WorldTable HelloCollector::table() const {
  return info_;
}

std::string rank_list(const std::vector<int>& ranks) {
  std::string out;
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(ranks[i]);
  }
  return out;
}

}  // namespace nexo::mpi
