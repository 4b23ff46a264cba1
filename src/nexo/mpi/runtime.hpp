// The MPI runtime of one rank: what MPI_Init builds and every other call uses.
//
// A Runtime owns the rank's point-to-point Engine (p2p.hpp) and the transports that move its
// frames: the shared-memory rings of the host's ranks (shm.hpp) and TCP to the ranks of other
// hosts (tcp.hpp; to every rank with NEXO_MPI_TRANSPORT=tcp). MPI_Init connects to the launcher
// (control.hpp), says HELLO with its TCP listener's address and gets the TABLE of every rank's
// host, local rank and address; MPI_Abort and MPI_Finalize are reported to the launcher.
//
// Mixed jobs (shared memory and TCP at once): a rank cannot sleep on the futex and the sockets
// together, so it sleeps on its shared-memory doorbell and a watcher thread (TcpWatcher in
// runtime.cpp) waits on the TCP sockets, edge-triggered, and rings that doorbell when one has
// data; a spinning rank sees the ring too. The watcher only waits: the rank's own thread does
// all the reading and writing. (Before the watcher, a TCP message waited up to 1 ms, the bound of
// each futex sleep, for an idle rank of a mixed job: 965 us one way on loopback.) Jobs on one host
// (shared memory only) and TCP-only jobs sleep on their one transport. The runtime drives them all
// in progress(): frames the engine has for a peer go to that peer's transport, frames that arrived
// go to the engine. A rank that waits (MPI_Wait, a blocking call, a collective) calls wait_until(),
// which makes progress and, when nothing moves, sleeps in the transport (a futex for shared memory)
// instead of spinning: with more ranks than cores a spinning rank would steal the core of the rank
// it waits for.
//
// Communicators and requests are the C structs behind MPI_Comm and MPI_Request, defined here.
// A communicator maps its ranks to world ranks; on the wire it is its context id (even): user
// point-to-point traffic travels on `context`, the communicator's collectives on `context + 1`,
// so that a collective never matches a user receive (MPI 3.1 §5.2.3).
//
// CPUs: when the host's ranks fit the CPUs a rank may use, each binds itself to one of them (its
// local rank-th), as Open MPI does for 2 ranks; NEXO_MPI_CPU_BIND=none turns that off.
//
// Threads: MPI_THREAD_FUNNELED (MPI_Init_thread reports it): every MPI call of a process comes
// from one thread at a time, the one that called MPI_Init.
#pragma once

#include <mpi.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/mpi/p2p.hpp"

namespace nexo::mpi {

inline constexpr std::uint32_t kCommMagic = 0x4e58'434d;     // "NXCM"
inline constexpr std::uint32_t kRequestMagic = 0x4e58'5251;  // "NXRQ"
inline constexpr std::uint32_t kWorldContext = 0;
inline constexpr std::uint32_t kSelfContext = 2;
inline constexpr std::uint32_t kFirstFreeContext = 4;
// The largest tag a program may use (MPI_TAG_UB is at least 32767; nexo allows any int >= 0).
inline constexpr int kTagUpperBound = 0x7fff'ffff;

}  // namespace nexo::mpi

// The object an MPI_Comm points to.
struct nexo_mpi_comm {
  std::uint32_t magic = nexo::mpi::kCommMagic;
  bool predefined = false;
  std::uint32_t context = 0;    // user traffic; collectives use context + 1
  int rank = 0;                 // this process's rank in the communicator
  std::vector<int> world;       // communicator rank -> world rank
  std::vector<int> from_world;  // world rank -> communicator rank, or -1
  MPI_Errhandler errhandler = MPI_ERRORS_ARE_FATAL;
  int refs = 1;        // the handle, and each request on it (freed when the last goes)
  bool freed = false;  // MPI_Comm_free was called (the handle is gone)

  int size() const noexcept { return static_cast<int>(world.size()); }
};

// The object an MPI_Request points to.
struct nexo_mpi_request {
  enum class Kind : std::uint8_t {
    send,     // an engine send (standard, synchronous, ready)
    receive,  // an engine receive
    done,     // complete when made: PROC_NULL, MPI_Ibsend (the copy is made at once)
  };
  std::uint32_t magic = nexo::mpi::kRequestMagic;
  Kind kind = Kind::done;
  nexo::mpi::Engine::RequestId id = 0;
  MPI_Comm comm = MPI_COMM_NULL;
  // A derived (not dense) datatype: a send's packed copy, or a receive's packed bytes that
  // completion unpacks into (buffer, count, type).
  nexo::Bytes staging;
  void* buffer = nullptr;
  std::size_t count = 0;
  MPI_Datatype type = MPI_DATATYPE_NULL;
  MPI_Status status{};    // Kind::done: the status to report
  bool on_stack = false;  // a blocking call's own request: freed without delete
};

namespace nexo::mpi {

class ShmWorld;
class TcpWorld;
class ControlClient;
class TcpWatcher;

class Runtime {
 public:
  // Starts the rank from its environment (a singleton without NEXO_MPI_RANK): joins the
  // transports. Errors name the variable or the transport that failed.
  static Result<std::unique_ptr<Runtime>> start();
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  Engine& engine() noexcept { return *engine_; }

  // One pass: frames out to every transport, frames in to the engine. True if anything moved.
  Result<bool> progress();
  // The fast path of a small standard send (Engine::eager_now): to a rank with nothing queued
  // ahead of it, the frame goes straight to the transport (shared memory, or TCP) and the send
  // is complete, with no request and no progress pass. Returns the id the frame carries, or
  // nullopt when the send must take the normal way (isend); nothing has changed then.
  Result<std::optional<Engine::RequestId>> send_now(int to, std::uint32_t context, int tag,
                                                    std::span<const std::byte> data);
  // The fast path of a blocking receive (Engine::on_frame_for): while the engine holds
  // nothing and the job uses one transport (shared memory alone, or TCP alone), waits for the
  // next frame and delivers a small standard message that matches straight into `buffer`. Returns
  // its status, or nullopt when the receive must take the normal way (irecv; frames taken meanwhile
  // are in the engine, in order).
  Result<std::optional<Status>> receive_now(int source, std::uint32_t context, int tag,
                                            std::span<std::byte> buffer);
  // Progress until done() is true; sleeps in the transports when nothing moves.
  Result<void> wait_until(const std::function<bool()>& done);

  // A fresh context id for a communicator made collectively (the caller agrees on it with the
  // other members: the largest proposal wins, and every member then moves past it).
  std::uint32_t next_context() const noexcept { return next_context_; }
  void use_context(std::uint32_t context) noexcept {
    if (context + 2 > next_context_) next_context_ = context + 2;
  }

  // Waits a few seconds for the launcher to end the job (it is ending it when a peer died),
  // then returns; at once without a launcher.
  void grace_for_launcher();

  // Ends the job at once with `code`: the launcher (if any) is told, then this process exits.
  [[noreturn]] void abort_job(int code, const std::string& why);

  // Progress until every frame the engine made is handed to a transport and written
  // (MPI_Finalize).
  Result<void> flush();
  // MPI_Finalize's barrier began: a peer that closes its connection now is done, not dead.
  void finishing();
  // Tells the launcher this rank reached MPI_Finalize.
  Result<void> finalized();

 private:
  Runtime() = default;
  Result<void> transmit();
  Result<bool> receive();
  Result<bool> send_frame(int to, std::span<const std::byte> frame);
  // A frame in two parts to another rank (not this one).
  Result<bool> send_frame(int to, std::span<const std::byte> head, std::span<const std::byte> body);

  int rank_ = 0;
  int size_ = 1;
  std::uint32_t next_context_ = kFirstFreeContext;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<ControlClient> control_;
  std::unique_ptr<ShmWorld> shm_;
  std::unique_ptr<TcpWorld> tcp_;
  std::chrono::nanoseconds tcp_spin_{0};  // TCP alone: how long to poll before epoll
  bool tcp_yield_ = false;  // ... yielding the CPU between polls (more ranks than CPUs)
  std::chrono::milliseconds sleep_bound_{100};  // the longest idle sleep (NEXO_MPI_SLEEP_MS)
  std::vector<int> local_of_;                   // world rank -> shm rank, or -1
  std::vector<int> world_of_local_;
  Bytes frame_;                 // poll_transmit's buffer
  std::vector<Bytes> pending_;  // per world rank: a frame the transport had no room for
  std::vector<bool> has_pending_;
  std::vector<std::int32_t> peers_;  // scratch for peers_with_output
  std::optional<Error> receive_error_;
  // Mixed jobs: rings this rank's doorbell when TCP data arrives. Declared after the transports:
  // it is stopped before they close.
  std::unique_ptr<TcpWatcher> tcp_watcher_;
};

// The rank's runtime between MPI_Init and MPI_Finalize; nullptr outside.
Runtime* runtime() noexcept;

}  // namespace nexo::mpi
