// The control protocol between the ranks of a job and their launcher (nexorun), and the
// environment a launched rank gets.
//
// Each rank opens one TCP connection to NEXO_MPI_CONTROL, says HELLO, and blocks until the
// launcher has the HELLO of every rank and answers with the TABLE (who is where). Later the rank
// says FINALIZED (it reached MPI_Finalize: an exit without it is a failure) or ABORT (MPI_Abort:
// the launcher ends the job with the error code); the launcher acknowledges each before it acts,
// so that what a rank said is recorded before its exit can be seen. When the launcher closes the
// connection the job is ending (ControlClient::fd() turns readable).
//
// Wire format. Every message is
//
//   u32  length: the bytes that follow (type and body), 1..kMaxControlMessage
//   u8   type (ControlType)
//   ...  body
//
// Integers are little-endian; a string is u16 length then its bytes (no terminator). Bodies:
//
//   HELLO          job (string, 32 hex digits), rank u32, size u32, pid u32, host (string),
//                  tcp (string: the rank's TCP listener "ip:port", may be empty)
//   TABLE          size u32, then per world rank: host (string), local_rank u32, pid u32,
//                  tcp (string)
//   ABORT          errorcode i32, why (string)
//   ABORT_ACK, FINALIZED, FINALIZED_ACK   empty
//   REFUSED        why (string): the launcher refused the HELLO (wrong job, bad rank, ...)
//
// A message longer than its type allows, shorter than its fields, with trailing bytes, an
// unknown type, or strings over their limits, is refused with a malformed Error naming the
// message and the field; decoding never reads outside the bytes given. Types from 32 up are
// left to the launcher and its agents (nexorun's own messages travel in the same framing).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/net/tcp_stream.hpp"

namespace nexo::mpi {

// ---------------------------------------------------------------------------------------------
// The environment of a launched rank.

// The largest world a launcher starts (a bound on the TABLE a rank accepts).
inline constexpr int kMaxWorldSize = 4096;
// Limits on strings: a host name, an "ip:port", an abort reason.
inline constexpr std::size_t kMaxHostName = 255;
inline constexpr std::size_t kMaxAddressText = 64;
inline constexpr std::size_t kMaxAbortReason = 1024;

enum class RankTransport : std::uint8_t {
  automatic,  // "auto": shared memory within a host, TCP between hosts
  tcp,        // "tcp": TCP for every pair
};

// What NEXO_MPI_* says to a rank (see the plan in mpi_runtime_plan / issue 14).
struct RankEnv {
  int rank = 0;                    // NEXO_MPI_RANK, 0..size-1
  int size = 1;                    // NEXO_MPI_SIZE, 1..kMaxWorldSize
  std::string job;                 // NEXO_MPI_JOB, 32 lowercase hex digits
  std::string control;             // NEXO_MPI_CONTROL, "host:port" ("[v6]:port")
  std::string host;                // NEXO_MPI_HOST
  std::optional<std::string> shm;  // NEXO_MPI_SHM ("fd:N" or "name:/x"); nullopt: none
  int local_rank = 0;              // NEXO_MPI_LOCAL_RANK (required with NEXO_MPI_SHM)
  int local_size = 1;              // NEXO_MPI_LOCAL_SIZE (required with NEXO_MPI_SHM)
  RankTransport transport = RankTransport::automatic;  // NEXO_MPI_TRANSPORT
  std::string bind = "127.0.0.1";                      // NEXO_MPI_BIND, an IP literal
  std::optional<std::string> trace;                    // NEXO_MPI_TRACE, a path prefix
};

// The names of the variables, for the launcher that sets them.
inline constexpr const char* kEnvRank = "NEXO_MPI_RANK";
inline constexpr const char* kEnvSize = "NEXO_MPI_SIZE";
inline constexpr const char* kEnvJob = "NEXO_MPI_JOB";
inline constexpr const char* kEnvControl = "NEXO_MPI_CONTROL";
inline constexpr const char* kEnvHost = "NEXO_MPI_HOST";
inline constexpr const char* kEnvShm = "NEXO_MPI_SHM";
inline constexpr const char* kEnvLocalRank = "NEXO_MPI_LOCAL_RANK";
inline constexpr const char* kEnvLocalSize = "NEXO_MPI_LOCAL_SIZE";
inline constexpr const char* kEnvTransport = "NEXO_MPI_TRANSPORT";
inline constexpr const char* kEnvBind = "NEXO_MPI_BIND";
inline constexpr const char* kEnvTrace = "NEXO_MPI_TRACE";

// Reads the variables of this process. nullopt when NEXO_MPI_RANK is unset (a singleton: the
// program was not started by nexorun). invalid_argument, naming the variable, its value and what
// it should be, when one is missing or malformed. Does not block.
Result<std::optional<RankEnv>> read_rank_env();
// The same over any lookup (tests): `lookup(name)` returns the value or nullptr.
Result<std::optional<RankEnv>> parse_rank_env(
    const std::function<const char*(const char*)>& lookup);

// Whether `job` is a job id: 32 lowercase hex digits.
bool is_job_id(std::string_view job) noexcept;
// Splits "host:port" / "[v6]:port" into host and port; invalid_argument naming `text` otherwise.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};
Result<HostPort> split_host_port(std::string_view text);

// ---------------------------------------------------------------------------------------------
// Messages.

inline constexpr std::size_t kControlHeaderSize = 5;         // u32 length + u8 type
inline constexpr std::size_t kMaxControlMessage = 2u << 20;  // type + body, bytes

enum class ControlType : std::uint8_t {
  hello = 1,
  table = 2,
  abort = 3,
  abort_ack = 4,
  finalized = 5,
  finalized_ack = 6,
  refused = 7,
};
// "HELLO", "TABLE", ...; "type 42" for others.
std::string to_string(ControlType type);

struct Hello {
  std::string job;
  int rank = 0;
  int size = 0;
  pid_t pid = 0;
  std::string host;
  std::string tcp;  // the rank's TCP listener, "ip:port"; empty when it has none
  friend bool operator==(const Hello&, const Hello&) = default;
};

// One world rank, as the TABLE says.
struct RankInfo {
  std::string host;
  int local_rank = 0;
  pid_t pid = 0;
  std::string tcp;
  friend bool operator==(const RankInfo&, const RankInfo&) = default;
};
using WorldTable = std::vector<RankInfo>;  // indexed by world rank

struct AbortRequest {
  int errorcode = 0;
  std::string why;
  friend bool operator==(const AbortRequest&, const AbortRequest&) = default;
};

// One framed message, type and body (the body views the bytes it was decoded from, or owns a
// copy: see ControlDecoder).
struct ControlMessage {
  std::uint8_t type = 0;
  Bytes body;
};

// Writes the body of a message: little-endian integers and u16-length strings. A string longer
// than its limit is a programming error of the caller (checked: invalid_argument in finish()).
class ControlWriter {
 public:
  explicit ControlWriter(std::uint8_t type);
  ControlWriter& u8(std::uint8_t value);
  ControlWriter& u32(std::uint32_t value);
  ControlWriter& i32(std::int32_t value) { return u32(static_cast<std::uint32_t>(value)); }
  ControlWriter& u64(std::uint64_t value);
  ControlWriter& str(std::string_view text, std::size_t limit);
  ControlWriter& bytes(std::span<const std::byte> data);  // u32 length then the bytes
  // The whole framed message. invalid_argument if a string broke its limit or the message is
  // longer than kMaxControlMessage.
  Result<Bytes> finish();

 private:
  Bytes out_;
  std::optional<std::string> error_;
};

// Reads a body field by field; each read fails with malformed naming `what` (the message) and
// the field when the bytes run out or a string breaks its limit.
class ControlReader {
 public:
  ControlReader(std::span<const std::byte> body, std::string what) noexcept
      : body_(body), what_(std::move(what)) {}
  Result<std::uint8_t> u8(std::string_view field);
  Result<std::uint32_t> u32(std::string_view field);
  Result<std::int32_t> i32(std::string_view field);
  Result<std::uint64_t> u64(std::string_view field);
  Result<std::string> str(std::string_view field, std::size_t limit);
  Result<Bytes> bytes(std::string_view field, std::size_t limit);
  // malformed unless every byte was read.
  Result<void> end();
  Error malformed(std::string_view field, std::string_view why) const;

 private:
  Result<std::span<const std::byte>> take(std::size_t n, std::string_view field);
  std::span<const std::byte> body_;
  std::size_t pos_ = 0;
  std::string what_;
};

Result<Bytes> encode_hello(const Hello& hello);
Result<Bytes> encode_table(const WorldTable& table);
Result<Bytes> encode_abort(const AbortRequest& request);
Result<Bytes> encode_refused(std::string_view why);
// A message with an empty body (ABORT_ACK, FINALIZED, FINALIZED_ACK).
Bytes encode_empty(ControlType type);

Result<Hello> decode_hello(std::span<const std::byte> body);
Result<WorldTable> decode_table(std::span<const std::byte> body);
Result<AbortRequest> decode_abort(std::span<const std::byte> body);
Result<std::string> decode_refused(std::span<const std::byte> body);
// malformed unless `body` is empty.
Result<void> decode_empty(ControlType type, std::span<const std::byte> body);

// Splits a byte stream into messages (sans I/O): feed() what arrived, next() the whole messages
// in order. A length of 0 or over `max_message` is malformed (the stream is then unusable: the
// connection should be dropped). Not thread-safe.
class ControlDecoder {
 public:
  explicit ControlDecoder(std::size_t max_message = kMaxControlMessage) : max_(max_message) {}
  void feed(std::span<const std::byte> data);
  // The next whole message, nullopt when more bytes are needed, malformed on a bad length.
  Result<std::optional<ControlMessage>> next();
  // Bytes held that are not yet a whole message.
  std::size_t buffered() const noexcept { return buffer_.size() - start_; }

 private:
  Bytes buffer_;
  std::size_t start_ = 0;
  std::size_t max_;
};

// Reads one whole message from a blocking stream (its read timeout applies).
Result<ControlMessage> read_message(net::TcpStream& stream, std::size_t max_message,
                                    std::string_view peer);

// ---------------------------------------------------------------------------------------------
// The rank side.

// The rank's connection to its launcher. Blocking calls; one thread at a time. Move-only.
class ControlClient {
 public:
  // Connects to `host_port` ("127.0.0.1:4000", "[::1]:4000", "name:4000"), trying for up to
  // `timeout`. Errors name the address and the cause (refused, timed_out, resolve_failed,
  // invalid_argument for a bad host_port).
  static Result<ControlClient> connect(std::string_view host_port, Timeout timeout);

  // Sends HELLO and blocks until the TABLE comes (every rank said HELLO), or `timeout` passes
  // (timed_out, naming the launcher and the wait). Errors: refused (the launcher refused the
  // HELLO: its reason), closed/reset (the launcher went away), malformed (a bad TABLE, or one
  // whose size differs from the HELLO's). Call once.
  Result<WorldTable> exchange(const Hello& hello, Timeout timeout);
  // Tells the launcher this rank called MPI_Abort(errorcode): it ends the whole job and exits
  // with the code. Blocks until the launcher acknowledged (or `timeout`), so the abort is
  // recorded before this process exits; `why` is cut to kMaxAbortReason bytes.
  Result<void> abort(int errorcode, std::string_view why,
                     Timeout timeout = std::chrono::milliseconds(10'000));
  // Tells the launcher this rank reached MPI_Finalize (an exit without it fails the job).
  // Blocks until the launcher acknowledged, or `timeout`.
  Result<void> finalized(Timeout timeout = std::chrono::milliseconds(10'000));
  // The connection's descriptor: readable when the launcher closed it (the job is ending).
  int fd() const noexcept { return stream_.native_handle(); }
  const std::string& launcher() const noexcept { return launcher_; }

 private:
  ControlClient(net::TcpStream stream, std::string launcher)
      : stream_(std::move(stream)), launcher_(std::move(launcher)) {}
  Result<ControlMessage> receive(Timeout timeout, std::string_view waiting_for);
  Result<void> await_ack(ControlType ack, Timeout timeout);

  net::TcpStream stream_;
  std::string launcher_;
};

// ---------------------------------------------------------------------------------------------
// The launcher side: what it does with the HELLOs (sans I/O).

// Collects the HELLOs of a job's ranks and builds the TABLE. The launcher gives it what it knows
// of each rank (host and local rank, from its placement); add() checks a HELLO against that.
class HelloCollector {
 public:
  struct Placement {
    std::string host;
    int local_rank = 0;
  };
  HelloCollector(std::string job, std::vector<Placement> placement);

  // Records a rank's HELLO. Errors (the launcher answers REFUSED with the text and drops the
  // connection): refused for another job's id, a rank out of range, a size that is not the
  // job's, a rank that already said HELLO, a host that is not where the rank was placed.
  Result<void> add(const Hello& hello);
  bool has(int rank) const noexcept { return arrived_[static_cast<std::size_t>(rank)]; }
  bool complete() const noexcept { return count_ == arrived_.size(); }
  // The ranks that have not said HELLO, in order.
  std::vector<int> missing() const;
  // The TABLE (only when complete()).
  WorldTable table() const;

 private:
  std::string job_;
  std::vector<Placement> placement_;
  std::vector<RankInfo> info_;
  std::vector<bool> arrived_;
  std::size_t count_ = 0;
};

// "2, 3, 5" for a list of ranks.
std::string rank_list(const std::vector<int>& ranks);

}  // namespace nexo::mpi
