// The C++ facade of nexo's MPI: the environment, communicators and requests as RAII objects,
// typed sends and receives, and collectives on values. It is a thin layer over the C API
// (mpi.h): a program may mix the two (comm.handle() is the MPI_Comm).
//
//   nexo::mpi::cxx::Environment env(argc, argv);     // MPI_Init .. MPI_Finalize
//   auto world = nexo::mpi::cxx::Communicator::world();
//   if (world.rank() == 0) world.send(std::vector<double>{1, 2, 3}, 1, /*tag*/ 0);
//   else auto v = world.recv<std::vector<double>>(0, 0);
//   double total = world.allreduce(x, MPI_SUM);
//
// What a message may hold:
//   - a trivially copyable T (numbers, PODs), a std::vector or std::span of them, a std::string:
//     sent as their bytes (no copy);
//   - a type described for nexo's wire layer (wire/describe.hpp: nexo_wire_describe): marshalled
//     in CDR (wire/cdr.hpp), so strings, vectors, maps and nested types travel whole. A receive
//     probes the message's size first (MPI_Probe), then decodes; bad bytes throw.
// Reductions take arithmetic T and the pair types MPI knows (std::pair<float/double/..., int>
// is not one: use MPI_DOUBLE_INT with the C API).
//
// Errors: the facade sets MPI_ERRORS_RETURN on the communicators it wraps and throws
// nexo::mpi::cxx::Error (what(): the MPI error string) for any error code.
//
// Requests: a Request owns its MPI_Request and, for a marshalled send, the encoded bytes. Its
// destructor waits for it if it is still active (as std::jthread joins): a request is never
// leaked with its buffer gone. Move-only.
#pragma once

#include <mpi.h>

#include <complex>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "nexo/wire/buffer.hpp"
#include "nexo/wire/cdr.hpp"

namespace nexo::mpi::cxx {

class Error : public std::runtime_error {
 public:
  Error(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// Throws Error for a non-success code of `function`.
inline void check(int code, const char* function) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(code, std::string(function) + ": " + text);
}

// The MPI datatype of an arithmetic C++ type.
template <class T>
MPI_Datatype datatype_of() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, char>)
    return MPI_CHAR;
  else if constexpr (std::is_same_v<U, signed char>)
    return MPI_SIGNED_CHAR;
  else if constexpr (std::is_same_v<U, unsigned char>)
    return MPI_UNSIGNED_CHAR;
  else if constexpr (std::is_same_v<U, std::byte>)
    return MPI_BYTE;
  else if constexpr (std::is_same_v<U, short>)
    return MPI_SHORT;
  else if constexpr (std::is_same_v<U, unsigned short>)
    return MPI_UNSIGNED_SHORT;
  else if constexpr (std::is_same_v<U, int>)
    return MPI_INT;
  else if constexpr (std::is_same_v<U, unsigned>)
    return MPI_UNSIGNED;
  else if constexpr (std::is_same_v<U, long>)
    return MPI_LONG;
  else if constexpr (std::is_same_v<U, unsigned long>)
    return MPI_UNSIGNED_LONG;
  else if constexpr (std::is_same_v<U, long long>)
    return MPI_LONG_LONG;
  else if constexpr (std::is_same_v<U, unsigned long long>)
    return MPI_UNSIGNED_LONG_LONG;
  else if constexpr (std::is_same_v<U, float>)
    return MPI_FLOAT;
  else if constexpr (std::is_same_v<U, double>)
    return MPI_DOUBLE;
  else if constexpr (std::is_same_v<U, long double>)
    return MPI_LONG_DOUBLE;
  else if constexpr (std::is_same_v<U, bool>)
    return MPI_C_BOOL;
  else
    static_assert(sizeof(U) == 0, "no MPI datatype for this type");
}

template <class T>
concept Arithmetic = std::is_arithmetic_v<T> || std::is_same_v<T, std::byte>;

// Sent as its bytes.
template <class T>
concept Trivial = std::is_trivially_copyable_v<T>;

// Sent marshalled (CDR).
template <class T>
concept Marshalled = !std::is_trivially_copyable_v<T> && wire::Described<T>;

// A contiguous container of trivially copyable elements (vector, string).
template <class C>
concept TrivialContainer = requires(C c) {
  {c.data()};
  { c.size() } -> std::convertible_to<std::size_t>;
  c.resize(std::size_t{});
  requires Trivial<typename C::value_type>;
}
&&!wire::Described<C>;

struct Status {
  int source = MPI_ANY_SOURCE;
  int tag = MPI_ANY_TAG;
  std::size_t bytes = 0;
  bool cancelled = false;
};

inline Status to_status(const MPI_Status& s) {
  int bytes = 0;
  MPI_Get_count(&s, MPI_BYTE, &bytes);
  int cancelled = 0;
  MPI_Test_cancelled(&s, &cancelled);
  return {s.MPI_SOURCE, s.MPI_TAG, static_cast<std::size_t>(bytes < 0 ? 0 : bytes), cancelled != 0};
}

// MPI_Init on construction, MPI_Finalize on destruction. One per program.
class Environment {
 public:
  Environment(int& argc, char**& argv) {
    check(MPI_Init(&argc, &argv), "MPI_Init");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  }
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
  ~Environment() { MPI_Finalize(); }
};

class Request {
 public:
  Request() = default;
  explicit Request(MPI_Request request, wire::Buffer owned = {})
      : request_(request), owned_(std::move(owned)) {}
  Request(Request&& other) noexcept
      : request_(std::exchange(other.request_, MPI_REQUEST_NULL)),
        owned_(std::move(other.owned_)) {}
  Request& operator=(Request&& other) noexcept {
    if (this != &other) {
      finish();
      request_ = std::exchange(other.request_, MPI_REQUEST_NULL);
      owned_ = std::move(other.owned_);
    }
    return *this;
  }
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  ~Request() { finish(); }

  bool active() const noexcept { return request_ != MPI_REQUEST_NULL; }
  Status wait() {
    MPI_Status s{};
    check(MPI_Wait(&request_, &s), "MPI_Wait");
    return to_status(s);
  }
  std::optional<Status> test() {
    int flag = 0;
    MPI_Status s{};
    check(MPI_Test(&request_, &flag, &s), "MPI_Test");
    if (flag == 0) return std::nullopt;
    return to_status(s);
  }
  // Cancels a receive that has not matched (MPI_Cancel); wait() then reports `cancelled`.
  void cancel() { check(MPI_Cancel(&request_), "MPI_Cancel"); }
  MPI_Request& handle() noexcept { return request_; }

  // Waits for every request of `requests`.
  static void wait_all(std::span<Request> requests) {
    for (Request& r : requests)
      r.wait();
  }

 private:
  void finish() noexcept {
    if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }
  MPI_Request request_ = MPI_REQUEST_NULL;
  wire::Buffer owned_;  // a marshalled send's bytes
};

class Communicator {
 public:
  // MPI_COMM_WORLD / MPI_COMM_SELF (not owned: never freed).
  static Communicator world() { return adopt_predefined(MPI_COMM_WORLD); }
  static Communicator self() { return adopt_predefined(MPI_COMM_SELF); }

  Communicator(Communicator&& other) noexcept
      : comm_(std::exchange(other.comm_, MPI_COMM_NULL)), owned_(other.owned_) {}
  Communicator& operator=(Communicator&& other) noexcept {
    if (this != &other) {
      release();
      comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
      owned_ = other.owned_;
    }
    return *this;
  }
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  ~Communicator() { release(); }

  // False for the MPI_COMM_NULL a split with MPI_UNDEFINED gives.
  explicit operator bool() const noexcept { return comm_ != MPI_COMM_NULL; }
  MPI_Comm handle() const noexcept { return comm_; }

  int rank() const {
    int r = 0;
    check(MPI_Comm_rank(comm_, &r), "MPI_Comm_rank");
    return r;
  }
  int size() const {
    int s = 0;
    check(MPI_Comm_size(comm_, &s), "MPI_Comm_size");
    return s;
  }
  Communicator dup() const {
    MPI_Comm c = MPI_COMM_NULL;
    check(MPI_Comm_dup(comm_, &c), "MPI_Comm_dup");
    return adopt(c);
  }
  Communicator split(int color, int key = 0) const {
    MPI_Comm c = MPI_COMM_NULL;
    check(MPI_Comm_split(comm_, color, key, &c), "MPI_Comm_split");
    return adopt(c);
  }

  // ---- point to point ----

  template <Trivial T>
  void send(const T& value, int dest, int tag) const {
    check(MPI_Send(&value, static_cast<int>(sizeof(T)), MPI_BYTE, dest, tag, comm_), "MPI_Send");
  }
  template <TrivialContainer C>
  void send(const C& values, int dest, int tag) const {
    check(MPI_Send(values.data(), byte_count(values.size() * sizeof(*values.data())), MPI_BYTE,
                   dest, tag, comm_),
          "MPI_Send");
  }
  template <Marshalled T>
  void send(const T& value, int dest, int tag) const {
    wire::Buffer bytes;
    wire::cdr::encode(value, bytes);
    check(MPI_Send(bytes.data(), byte_count(bytes.size()), MPI_BYTE, dest, tag, comm_), "MPI_Send");
  }
  // Synchronous: returns once the receive has matched (MPI_Ssend).
  template <Trivial T>
  void ssend(const T& value, int dest, int tag) const {
    check(MPI_Ssend(&value, static_cast<int>(sizeof(T)), MPI_BYTE, dest, tag, comm_), "MPI_Ssend");
  }

  template <Trivial T>
  T recv(int source, int tag, Status* status = nullptr) const {
    T value{};
    MPI_Status s{};
    check(MPI_Recv(&value, static_cast<int>(sizeof(T)), MPI_BYTE, source, tag, comm_, &s),
          "MPI_Recv");
    if (status != nullptr) *status = to_status(s);
    return value;
  }
  // A container or a marshalled type: sized by probing the message first.
  template <class T>
  requires TrivialContainer<T> || Marshalled<T> T recv(int source, int tag,
                                                       Status* status = nullptr)
  const {
    MPI_Status probed{};
    check(MPI_Probe(source, tag, comm_, &probed), "MPI_Probe");
    int bytes = 0;
    MPI_Get_count(&probed, MPI_BYTE, &bytes);
    MPI_Status s{};
    T value{};
    if constexpr (TrivialContainer<T>) {
      using E = std::remove_cv_t<std::remove_pointer_t<decltype(value.data())>>;
      if (static_cast<std::size_t>(bytes) % sizeof(E) != 0)
        throw Error(MPI_ERR_TRUNCATE, "recv: a message of " + std::to_string(bytes) +
                                          " bytes is not a whole number of elements");
      value.resize(static_cast<std::size_t>(bytes) / sizeof(E));
      check(MPI_Recv(value.data(), bytes, MPI_BYTE, probed.MPI_SOURCE, probed.MPI_TAG, comm_, &s),
            "MPI_Recv");
    } else {
      std::vector<std::byte> raw(static_cast<std::size_t>(bytes));
      check(MPI_Recv(raw.data(), bytes, MPI_BYTE, probed.MPI_SOURCE, probed.MPI_TAG, comm_, &s),
            "MPI_Recv");
      if (auto decoded = wire::cdr::decode(std::span<const std::byte>(raw), value); !decoded)
        throw Error(MPI_ERR_OTHER, "recv: the message is not a valid " +
                                       std::string(typeid(T).name()) + ": " +
                                       decoded.error().message());
    }
    if (status != nullptr) *status = to_status(s);
    return value;
  }

  // Nonblocking, on spans of trivially copyable elements that live until the request ends.
  template <Trivial T>
  Request isend(std::span<const T> values, int dest, int tag) const {
    MPI_Request r = MPI_REQUEST_NULL;
    check(MPI_Isend(values.data(), byte_count(values.size_bytes()), MPI_BYTE, dest, tag, comm_, &r),
          "MPI_Isend");
    return Request(r);
  }
  // A marshalled value: the request owns its encoded bytes.
  template <Marshalled T>
  Request isend(const T& value, int dest, int tag) const {
    wire::Buffer bytes;
    wire::cdr::encode(value, bytes);
    MPI_Request r = MPI_REQUEST_NULL;
    check(MPI_Isend(bytes.data(), byte_count(bytes.size()), MPI_BYTE, dest, tag, comm_, &r),
          "MPI_Isend");
    return Request(r, std::move(bytes));
  }
  template <Trivial T>
  Request irecv(std::span<T> values, int source, int tag) const {
    MPI_Request r = MPI_REQUEST_NULL;
    check(
        MPI_Irecv(values.data(), byte_count(values.size_bytes()), MPI_BYTE, source, tag, comm_, &r),
        "MPI_Irecv");
    return Request(r);
  }

  // ---- collectives ----

  void barrier() const { check(MPI_Barrier(comm_), "MPI_Barrier"); }

  template <Trivial T>
  void bcast(T& value, int root) const {
    check(MPI_Bcast(&value, static_cast<int>(sizeof(T)), MPI_BYTE, root, comm_), "MPI_Bcast");
  }
  template <TrivialContainer C>
  void bcast(C& values, int root) const {
    unsigned long long n = values.size();
    check(MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, comm_), "MPI_Bcast");
    values.resize(static_cast<std::size_t>(n));
    check(MPI_Bcast(values.data(), byte_count(n * sizeof(*values.data())), MPI_BYTE, root, comm_),
          "MPI_Bcast");
  }

  template <Arithmetic T>
  T allreduce(const T& value, MPI_Op op) const {
    T result{};
    check(MPI_Allreduce(&value, &result, 1, datatype_of<T>(), op, comm_), "MPI_Allreduce");
    return result;
  }
  template <Arithmetic T>
  std::vector<T> allreduce(std::span<const T> values, MPI_Op op) const {
    std::vector<T> result(values.size());
    check(MPI_Allreduce(values.data(), result.data(), byte_count(values.size()), datatype_of<T>(),
                        op, comm_),
          "MPI_Allreduce");
    return result;
  }
  // The root gets the reduction; the other ranks get nullopt.
  template <Arithmetic T>
  std::optional<T> reduce(const T& value, MPI_Op op, int root) const {
    T result{};
    check(MPI_Reduce(&value, &result, 1, datatype_of<T>(), op, root, comm_), "MPI_Reduce");
    if (rank() != root) return std::nullopt;
    return result;
  }
  template <Arithmetic T>
  T scan(const T& value, MPI_Op op) const {
    T result{};
    check(MPI_Scan(&value, &result, 1, datatype_of<T>(), op, comm_), "MPI_Scan");
    return result;
  }
  // Every rank's value, in rank order, at every rank.
  template <Trivial T>
  std::vector<T> allgather(const T& value) const {
    std::vector<T> all(static_cast<std::size_t>(size()));
    check(MPI_Allgather(&value, static_cast<int>(sizeof(T)), MPI_BYTE, all.data(),
                        static_cast<int>(sizeof(T)), MPI_BYTE, comm_),
          "MPI_Allgather");
    return all;
  }
  // Every rank's value at the root (others get an empty vector).
  template <Trivial T>
  std::vector<T> gather(const T& value, int root) const {
    std::vector<T> all(rank() == root ? static_cast<std::size_t>(size()) : 0);
    check(MPI_Gather(&value, static_cast<int>(sizeof(T)), MPI_BYTE, all.data(),
                     static_cast<int>(sizeof(T)), MPI_BYTE, root, comm_),
          "MPI_Gather");
    return all;
  }

 private:
  Communicator(MPI_Comm comm, bool owned) : comm_(comm), owned_(owned) {}
  static Communicator adopt_predefined(MPI_Comm c) {
    check(MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    return Communicator(c, false);
  }
  static Communicator adopt(MPI_Comm c) {
    if (c != MPI_COMM_NULL) MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
    return Communicator(c, c != MPI_COMM_NULL);
  }
  void release() noexcept {
    if (owned_ && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    comm_ = MPI_COMM_NULL;
  }
  // An MPI count: the C API takes int.
  static int byte_count(std::size_t n) {
    if (n > static_cast<std::size_t>(INT32_MAX))
      throw Error(MPI_ERR_COUNT,
                  "a message of " + std::to_string(n) + " elements is beyond MPI's int count");
    return static_cast<int>(n);
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  bool owned_ = false;
};

}  // namespace nexo::mpi::cxx
