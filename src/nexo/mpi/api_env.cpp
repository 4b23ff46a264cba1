// The C API of the environment and of communicators: MPI_Init .. MPI_Finalize, MPI_Abort,
// error handlers, MPI_Comm_rank/size/dup/split/free; and the helpers the other API files share.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <tuple>
#include <vector>

#include "nexo/mpi/api_internal.hpp"
#include "nexo/mpi/datatype.hpp"
#include "nexo/mpi/errors.hpp"
#include "nexo/mpi/trace.hpp"

// The predefined communicators (mpi.h names their addresses). Filled by MPI_Init.
nexo_mpi_comm nexo_mpi_comm_world;
nexo_mpi_comm nexo_mpi_comm_self;

namespace nexo::mpi {
namespace {

std::unique_ptr<Runtime> g_owned;
bool g_initialized = false;
bool g_finalized = false;

// Errors not tied to a communicator (datatypes, ops) go to MPI_COMM_WORLD's handler.
int world_hook(int code, const char* function, const char* why) {
  return comm_error(MPI_COMM_WORLD, code, function, why);
}

void init_comm(nexo_mpi_comm& comm, std::uint32_t context, std::vector<int> members, int size) {
  comm.magic = kCommMagic;
  comm.predefined = true;
  comm.context = context;
  comm.world = std::move(members);
  comm.from_world.assign(static_cast<std::size_t>(size), -1);
  for (std::size_t r = 0; r < comm.world.size(); ++r)
    comm.from_world[static_cast<std::size_t>(comm.world[r])] = static_cast<int>(r);
  comm.rank = comm.from_world[static_cast<std::size_t>(runtime()->rank())];
  comm.errhandler = MPI_ERRORS_ARE_FATAL;
  comm.refs = 1;
  comm.freed = false;
}

// The internal tag of exchange_all (collective context: no user message shares it).
constexpr int kExchangeTag = 0x7fff'ff00;

}  // namespace

int comm_error(MPI_Comm comm, int code, const char* function, const std::string& why) {
  MPI_Errhandler handler = is_comm(comm) ? comm->errhandler : MPI_ERRORS_ARE_FATAL;
  if (is_comm(MPI_COMM_WORLD) && !is_comm(comm)) handler = MPI_COMM_WORLD->errhandler;
  if (is_errhandler(handler) && !handler->fatal) return code;
  const char* text = error_class_text(code);
  std::string message = std::string(function) + ": " + (text != nullptr ? text : "error") +
                        (why.empty() ? "" : ": " + why);
  if (runtime() == nullptr) {
    std::fprintf(stderr, "nexo MPI: %s\n", message.c_str());
    std::fflush(stderr);
    ::_exit(code > 0 && code < 256 ? code : 1);
  }
  runtime()->abort_job(code, message + " (MPI_ERRORS_ARE_FATAL)");
}

int check_initialized(const char* function) {
  if (g_initialized && !g_finalized) return MPI_SUCCESS;
  return comm_error(
      MPI_COMM_NULL, MPI_ERR_OTHER, function,
      g_finalized ? "called after MPI_Finalize" : "called before MPI_Init (call MPI_Init first)");
}

int check_buffer(MPI_Comm comm, const void* buf, int count, MPI_Datatype type,
                 const char* function) {
  if (!is_comm(comm)) return comm_error(comm, MPI_ERR_COMM, function, "invalid communicator");
  if (count < 0)
    return comm_error(comm, MPI_ERR_COUNT, function, "count " + std::to_string(count) + " < 0");
  if (check_usable(type) != MPI_SUCCESS)
    return comm_error(comm, MPI_ERR_TYPE, function,
                      "the datatype is null, freed or not committed (MPI_Type_commit)");
  if (buf == nullptr && count > 0 && type->size > 0)
    return comm_error(comm, MPI_ERR_BUFFER, function, "null buffer with count > 0");
  return MPI_SUCCESS;
}

int check_rank(MPI_Comm comm, int rank, bool any, const char* function) {
  if (rank == MPI_PROC_NULL || (any && rank == MPI_ANY_SOURCE)) return MPI_SUCCESS;
  if (rank < 0 || rank >= comm->size())
    return comm_error(comm, MPI_ERR_RANK, function,
                      "rank " + std::to_string(rank) + " is not in 0.." +
                          std::to_string(comm->size() - 1) + " (the communicator's size is " +
                          std::to_string(comm->size()) + ")");
  return MPI_SUCCESS;
}

int check_tag(MPI_Comm comm, int tag, bool any, const char* function) {
  if (any && tag == MPI_ANY_TAG) return MPI_SUCCESS;
  if (tag < 0)
    return comm_error(comm, MPI_ERR_TAG, function,
                      "tag " + std::to_string(tag) + " is negative (tags are 0..MPI_TAG_UB)");
  return MPI_SUCCESS;
}

std::optional<std::span<std::byte>> dense_bytes(const void* buf, std::size_t count,
                                                MPI_Datatype type) {
  if (!type->dense) return std::nullopt;
  auto* start = static_cast<std::byte*>(const_cast<void*>(buf));
  const std::size_t bytes = count * static_cast<std::size_t>(type->size);
  if (bytes == 0) return std::span<std::byte>();
  return std::span<std::byte>(start + type->lb, bytes);
}

void runtime_failure(const char* function, const Error& error) {
  // A peer's connection closed: that rank most likely died, and the launcher, which sees its
  // exit, should end the job naming it, not this rank. Give it the time to.
  if (error.is(ErrorKind::not_connected)) runtime()->grace_for_launcher();
  runtime()->abort_job(MPI_ERR_INTERN, std::string(function) + ": " + error.to_string());
}

void wait_until(const char* function, const std::function<bool()>& done) {
  auto waited = runtime()->wait_until(done);
  if (!waited) runtime_failure(function, waited.error());
}

void exchange_all(MPI_Comm comm, std::span<const std::byte> mine, std::span<std::byte> out,
                  const char* function) {
  Engine& engine = runtime()->engine();
  const std::size_t n = mine.size();
  std::vector<Engine::RequestId> ids;
  for (int r = 0; r < comm->size(); ++r) {
    auto slot = out.subspan(static_cast<std::size_t>(r) * n, n);
    if (r == comm->rank) {
      std::copy(mine.begin(), mine.end(), slot.begin());
      continue;
    }
    const int peer = comm->world[static_cast<std::size_t>(r)];
    auto receive = engine.irecv(peer, comm->context + 1, kExchangeTag, slot);
    auto send = engine.isend(peer, comm->context + 1, kExchangeTag, mine);
    if (!receive) runtime_failure(function, receive.error());
    if (!send) runtime_failure(function, send.error());
    ids.push_back(*receive);
    ids.push_back(*send);
  }
  std::size_t next = 0;
  wait_until(function, [&] {
    while (next < ids.size() && engine.done(ids[next])) {
      (void)engine.test(ids[next]);
      ++next;
    }
    return next == ids.size();
  });
}

void retain_comm(MPI_Comm comm) {
  ++comm->refs;
}

void release_comm(MPI_Comm comm) {
  if (--comm->refs == 0 && !comm->predefined) delete comm;
}

}  // namespace nexo::mpi

using namespace nexo::mpi;

namespace {
// MPI_Finalize's work, traced as its call (the trace is written after it).
void finalize_work() {
  TraceCall trace("MPI_Finalize");
  // Released requests (MPI_Request_free, buffered sends) complete first; then every frame goes
  // out, and a barrier makes sure no rank still needs this one (a pull of its memory, a reply).
  wait_until("MPI_Finalize", [] { return adopted_empty(); });
  g_owned->finishing();
  std::byte none{};
  std::vector<std::byte> all(static_cast<std::size_t>(MPI_COMM_WORLD->size()));
  exchange_all(MPI_COMM_WORLD, std::span<const std::byte>(&none, 1), all, "MPI_Finalize");
  if (auto flushed = g_owned->flush(); !flushed) runtime_failure("MPI_Finalize", flushed.error());
}
}  // namespace

extern "C" {

int MPI_Init_thread(int* argc, char*** argv, int required, int* provided) {
  (void)argc;
  (void)argv;
  if (g_initialized)
    return comm_error(MPI_COMM_NULL, MPI_ERR_OTHER, __func__,
                      g_finalized ? "MPI cannot be initialized again after MPI_Finalize"
                                  : "MPI is already initialized");
  auto started = Runtime::start();
  if (!started) {
    std::fprintf(stderr, "nexo MPI: MPI_Init: %s\n", started.error().to_string().c_str());
    std::fflush(stderr);
    ::_exit(1);
  }
  g_owned = std::move(*started);
  const int size = g_owned->size();
  std::vector<int> all(static_cast<std::size_t>(size));
  for (int r = 0; r < size; ++r)
    all[static_cast<std::size_t>(r)] = r;
  init_comm(nexo_mpi_comm_world, kWorldContext, std::move(all), size);
  init_comm(nexo_mpi_comm_self, kSelfContext, {g_owned->rank()}, size);
  set_error_hook(&world_hook);
  g_initialized = true;
  trace_start(g_owned->rank());
  // Calls may come from any thread, one at a time (nothing is thread-local); not concurrently.
  if (provided != nullptr)
    *provided = std::min(required < MPI_THREAD_SINGLE ? MPI_THREAD_SINGLE : required,
                         MPI_THREAD_SERIALIZED);
  return MPI_SUCCESS;
}

int MPI_Init(int* argc, char*** argv) {
  int provided = 0;
  return MPI_Init_thread(argc, argv, MPI_THREAD_SINGLE, &provided);
}

int MPI_Initialized(int* flag) {
  if (flag == nullptr) return comm_error(MPI_COMM_NULL, MPI_ERR_ARG, __func__, "flag is null");
  *flag = g_initialized ? 1 : 0;
  return MPI_SUCCESS;
}

int MPI_Finalized(int* flag) {
  if (flag == nullptr) return comm_error(MPI_COMM_NULL, MPI_ERR_ARG, __func__, "flag is null");
  *flag = g_finalized ? 1 : 0;
  return MPI_SUCCESS;
}

int MPI_Finalize(void) {
  if (int rc = check_initialized(__func__); rc != MPI_SUCCESS) return rc;
  finalize_work();
  if (auto told = g_owned->finalized(); !told) runtime_failure(__func__, told.error());
  trace_finish();
  set_error_hook(nullptr);
  g_finalized = true;
  g_owned.reset();
  return MPI_SUCCESS;
}

int MPI_Abort(MPI_Comm comm, int errorcode) {
  TraceCall trace(__func__);
  (void)comm;  // the whole job ends, whatever the communicator (MPI 3.1 §8.7 allows it)
  const std::string why = "MPI_Abort(" + std::to_string(errorcode) + ") called";
  if (runtime() == nullptr) {
    std::fprintf(stderr, "nexo MPI: %s\n", why.c_str());
    std::fflush(stderr);
    ::_exit(errorcode == 0 ? 1 : errorcode & 0xff);
  }
  runtime()->abort_job(errorcode, why);
}

int MPI_Get_processor_name(char* name, int* resultlen) {
  TraceCall trace(__func__);
  if (name == nullptr || resultlen == nullptr)
    return comm_error(MPI_COMM_NULL, MPI_ERR_ARG, __func__, "name or resultlen is null");
  char host[MPI_MAX_PROCESSOR_NAME] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "localhost");
  const std::size_t length = std::strlen(host);
  std::memcpy(name, host, length + 1);
  *resultlen = static_cast<int>(length);
  return MPI_SUCCESS;
}

int MPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler errhandler) {
  TraceCall trace(__func__);
  if (int rc = check_initialized(__func__); rc != MPI_SUCCESS) return rc;
  if (!is_comm(comm)) return comm_error(comm, MPI_ERR_COMM, __func__, "invalid communicator");
  if (!is_errhandler(errhandler))
    return comm_error(comm, MPI_ERR_ARG, __func__,
                      "not an error handler (MPI_ERRORS_ARE_FATAL or MPI_ERRORS_RETURN)");
  comm->errhandler = errhandler;
  return MPI_SUCCESS;
}

int MPI_Comm_get_errhandler(MPI_Comm comm, MPI_Errhandler* errhandler) {
  TraceCall trace(__func__);
  if (int rc = check_initialized(__func__); rc != MPI_SUCCESS) return rc;
  if (!is_comm(comm)) return comm_error(comm, MPI_ERR_COMM, __func__, "invalid communicator");
  if (errhandler == nullptr) return comm_error(comm, MPI_ERR_ARG, __func__, "errhandler is null");
  *errhandler = comm->errhandler;
  return MPI_SUCCESS;
}

int MPI_Comm_rank(MPI_Comm comm, int* rank) {
  TraceCall trace(__func__);
  if (int rc = check_initialized(__func__); rc != MPI_SUCCESS) return rc;
  if (!is_comm(comm)) return comm_error(comm, MPI_ERR_COMM, __func__, "invalid communicator");
  if (rank == nullptr) return comm_error(comm, MPI_ERR_ARG, __func__, "rank is null");
  *rank = comm->rank;
  return MPI_SUCCESS;
}

int MPI_Comm_size(MPI_Comm comm, int* size) {
  TraceCall trace(__func__);
  if (int rc = check_initialized(__func__); rc != MPI_SUCCESS) return rc;
  if (!is_comm(comm)) return comm_error(comm, MPI_ERR_COMM, __func__, "invalid communicator");
  if (size == nullptr) return comm_error(comm, MPI_ERR_ARG, __func__, "size is null");
  *size = comm->size();
  return MPI_SUCCESS;
}

namespace {

// The context id every member of `comm` agrees on for a new communicator: the largest next
// free context among them (each member then moves past it).
std::uint32_t agree_context(MPI_Comm comm, const char* function) {
  const std::uint32_t mine = runtime()->next_context();
  std::vector<std::uint32_t> all(static_cast<std::size_t>(comm->size()));
  exchange_all(comm, std::as_bytes(std::span(&mine, 1)), std::as_writable_bytes(std::span(all)),
               function);
  const std::uint32_t context = *std::max_element(all.begin(), all.end());
  runtime()->use_context(context);
  return context;
}

MPI_Comm make_comm(MPI_Comm parent, std::uint32_t context, std::vector<int> members) {
  auto* comm = new nexo_mpi_comm;
  comm->context = context;
  comm->world = std::move(members);
  comm->from_world.assign(static_cast<std::size_t>(runtime()->size()), -1);
  for (std::size_t r = 0; r < comm->world.size(); ++r)
    comm->from_world[static_cast<std::size_t>(comm->world[r])] = static_cast<int>(r);
  comm->rank = comm->from_world[static_cast<std::size_t>(runtime()->rank())];
  comm->errhandler = parent->errhandler;
  return comm;
}

}  // namespace

int MPI_Comm_dup(MPI_Comm comm, MPI_Comm* newcomm) {
  TraceCall trace(__func__);
  if (int rc = check_initialized(__func__); rc != MPI_SUCCESS) return rc;
  if (!is_comm(comm)) return comm_error(comm, MPI_ERR_COMM, __func__, "invalid communicator");
  if (newcomm == nullptr) return comm_error(comm, MPI_ERR_ARG, __func__, "newcomm is null");
  const std::uint32_t context = agree_context(comm, __func__);
  *newcomm = make_comm(comm, context, comm->world);
  return MPI_SUCCESS;
}

int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm* newcomm) {
  TraceCall trace(__func__);
  if (int rc = check_initialized(__func__); rc != MPI_SUCCESS) return rc;
  if (!is_comm(comm)) return comm_error(comm, MPI_ERR_COMM, __func__, "invalid communicator");
  if (newcomm == nullptr) return comm_error(comm, MPI_ERR_ARG, __func__, "newcomm is null");
  if (color < 0 && color != MPI_UNDEFINED)
    return comm_error(comm, MPI_ERR_ARG, __func__,
                      "color " + std::to_string(color) + " is negative (and not MPI_UNDEFINED)");
  // Every member's (color, key, next free context), in parent rank order. The error above is
  // local: a rank that returned it does not take part, and the others would wait for it (as
  // in every MPI: a collective call with a bad argument is erroneous).
  struct Entry {
    std::int32_t color;
    std::int32_t key;
    std::uint32_t context;
  };
  const Entry mine{color, key, runtime()->next_context()};
  std::vector<Entry> all(static_cast<std::size_t>(comm->size()));
  exchange_all(comm, std::as_bytes(std::span(&mine, 1)), std::as_writable_bytes(std::span(all)),
               __func__);
  std::uint32_t context = 0;
  for (const Entry& e : all)
    context = std::max(context, e.context);
  runtime()->use_context(context);
  if (color == MPI_UNDEFINED) {
    *newcomm = MPI_COMM_NULL;
    return MPI_SUCCESS;
  }
  // Members of my color, ordered by key, then by rank in the parent (MPI 3.1 §6.4.2).
  std::vector<std::tuple<int, int>> order;
  for (int r = 0; r < comm->size(); ++r) {
    if (all[static_cast<std::size_t>(r)].color == color)
      order.emplace_back(all[static_cast<std::size_t>(r)].key, r);
  }
  std::sort(order.begin(), order.end());
  std::vector<int> members;
  members.reserve(order.size());
  for (const auto& [k, r] : order)
    members.push_back(comm->world[static_cast<std::size_t>(r)]);
  *newcomm = make_comm(comm, context, std::move(members));
  return MPI_SUCCESS;
}

int MPI_Comm_free(MPI_Comm* comm) {
  TraceCall trace(__func__);
  if (int rc = check_initialized(__func__); rc != MPI_SUCCESS) return rc;
  if (comm == nullptr || !is_comm(*comm))
    return comm_error(MPI_COMM_NULL, MPI_ERR_COMM, __func__, "invalid communicator");
  if ((*comm)->predefined)
    return comm_error(*comm, MPI_ERR_COMM, __func__,
                      "MPI_COMM_WORLD and MPI_COMM_SELF cannot be freed");
  (*comm)->freed = true;
  (*comm)->magic = 0;
  release_comm(*comm);
  *comm = MPI_COMM_NULL;
  return MPI_SUCCESS;
}

}  // extern "C"
