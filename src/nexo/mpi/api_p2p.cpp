// The C API of point-to-point communication and completion: MPI_Send .. MPI_Irecv, buffered
// sends, MPI_Wait*/MPI_Test*, MPI_Probe/Iprobe, MPI_Cancel, MPI_Request_free.
#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <vector>

#include "nexo/mpi/api_internal.hpp"
#include "nexo/mpi/datatype.hpp"
#include "nexo/mpi/errors.hpp"
#include "nexo/mpi/trace.hpp"

namespace nexo::mpi {
namespace {

// ---- the attached Bsend buffer ----

struct BsendBuffer {
  std::byte* base = nullptr;
  std::size_t size = 0;
  std::map<std::size_t, std::size_t> used;  // offset -> bytes (message + MPI_BSEND_OVERHEAD)
};
BsendBuffer g_bsend;

// First fit of `bytes` in the attached buffer; SIZE_MAX when there is no room.
std::size_t bsend_allocate(std::size_t bytes) {
  std::size_t at = 0;
  for (const auto& [offset, length] : g_bsend.used) {
    if (offset - at >= bytes) break;
    at = offset + length;
  }
  if (at + bytes > g_bsend.size) return SIZE_MAX;
  g_bsend.used.emplace(at, bytes);
  return at;
}

struct AdoptedRequest {
  MPI_Request request;
  std::size_t bsend_offset;
};
std::deque<AdoptedRequest> g_released;

void free_request(MPI_Request request) {
  if (request->type != MPI_DATATYPE_NULL) release(request->type);
  if (request->comm != MPI_COMM_NULL) release_comm(request->comm);
  request->magic = 0;
  if (!request->on_stack) delete request;
}

bool is_request(MPI_Request request) {
  return request != MPI_REQUEST_NULL && request->magic == kRequestMagic;
}

void fill_status(MPI_Status* status, int source, int tag, std::int64_t bytes, bool cancelled,
                 int error) {
  if (status == MPI_STATUS_IGNORE) return;
  status->MPI_SOURCE = source;
  status->MPI_TAG = tag;
  status->MPI_ERROR = error;
  status->nexo_cancelled = cancelled ? 1 : 0;
  status->nexo_count = bytes;
}

// The status of a PROC_NULL receive (MPI 3.1 §3.11).
MPI_Status proc_null_status() {
  MPI_Status s{};
  fill_status(&s, MPI_PROC_NULL, MPI_ANY_TAG, 0, false, MPI_SUCCESS);
  return s;
}

// A request on the heap, or in `storage` (a blocking call's own, on its stack: no allocation).
MPI_Request new_request(nexo_mpi_request::Kind kind, MPI_Comm comm,
                        nexo_mpi_request* storage = nullptr) {
  nexo_mpi_request* request = storage;
  if (request == nullptr) {
    request = new nexo_mpi_request;
  } else {
    request->on_stack = true;
  }
  request->kind = kind;
  request->comm = comm;
  if (comm != MPI_COMM_NULL) retain_comm(comm);
  return request;
}

// Whether the request is complete now (no release).
bool is_complete(MPI_Request request) {
  if (request->kind == nexo_mpi_request::Kind::done) return true;
  return runtime()->engine().done(request->id);
}

// Releases a complete request: fills *status and returns the request's error code (MPI_SUCCESS,
// or MPI_ERR_TRUNCATE for a receive whose message was longer than its buffer).
int finish(MPI_Request request, MPI_Status* status) {
  int code = MPI_SUCCESS;
  if (request->kind == nexo_mpi_request::Kind::done) {
    if (status != MPI_STATUS_IGNORE) *status = request->status;
    free_request(request);
    return code;
  }
  auto tested = runtime()->engine().test(request->id);
  if (!tested || !tested->has_value())
    runtime_failure("MPI_Wait",
                    tested ? Error(ErrorKind::malformed, "request not complete") : tested.error());
  const Status s = **tested;
  if (request->kind == nexo_mpi_request::Kind::receive) {
    std::size_t count = s.count;
    if (!s.cancelled && !request->staging.empty()) {
      // A derived datatype: the packed bytes go into the elements.
      unpack(std::span<const std::byte>(request->staging.data(), count), request->buffer,
             request->count, *request->type, 0);
    }
    if (s.truncated) code = MPI_ERR_TRUNCATE;
    if (!s.cancelled) trace_received(s.source, s.tag, count, s.message);
    const int source = s.cancelled ? MPI_ANY_SOURCE
                                   : request->comm->from_world[static_cast<std::size_t>(s.source)];
    fill_status(status, source, s.cancelled ? MPI_ANY_TAG : s.tag, static_cast<std::int64_t>(count),
                s.cancelled, code);
  } else {
    fill_status(status, request->comm->rank, s.tag, static_cast<std::int64_t>(s.count), false,
                MPI_SUCCESS);
  }
  free_request(request);
  return code;
}

// ---- starting sends and receives ----

enum class Mode { standard, synchronous, ready, buffered };

SendMode engine_mode(Mode mode) {
  return mode == Mode::synchronous ? SendMode::synchronous
         : mode == Mode::ready     ? SendMode::ready
                                   : SendMode::standard;
}

// Starts a send; *out is the request (a Kind::done one for PROC_NULL and buffered sends).
// `storage`: where the request lives for a blocking call (nullptr: on the heap).
int start_send(const void* buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
               Mode mode, MPI_Request* out, const char* function,
               nexo_mpi_request* storage = nullptr) {
  if (int rc = check_initialized(function); rc != MPI_SUCCESS) return rc;
  if (int rc = check_buffer(comm, buf, count, type, function); rc != MPI_SUCCESS) return rc;
  if (int rc = check_rank(comm, dest, false, function); rc != MPI_SUCCESS) return rc;
  if (int rc = check_tag(comm, tag, false, function); rc != MPI_SUCCESS) return rc;
  if (dest == MPI_PROC_NULL) {
    *out = new_request(nexo_mpi_request::Kind::done, MPI_COMM_NULL, storage);
    fill_status(&(*out)->status, MPI_PROC_NULL, MPI_ANY_TAG, 0, false, MPI_SUCCESS);
    return MPI_SUCCESS;
  }
  const auto n = static_cast<std::size_t>(count);
  const int peer = comm->world[static_cast<std::size_t>(dest)];
  Engine& engine = runtime()->engine();
  if (mode == Mode::buffered) {
    // Copy into the attached buffer, send from there, let the runtime finish the send.
    const std::size_t bytes = packed_size(n, *type);
    std::size_t offset =
        g_bsend.base != nullptr ? bsend_allocate(bytes + MPI_BSEND_OVERHEAD) : SIZE_MAX;
    if (offset == SIZE_MAX) {
      reap_adopted();  // buffered sends that completed since give their room back
      if (g_bsend.base != nullptr) offset = bsend_allocate(bytes + MPI_BSEND_OVERHEAD);
    }
    if (offset == SIZE_MAX) {
      return comm_error(comm, MPI_ERR_BUFFER, function,
                        g_bsend.base == nullptr
                            ? "no buffer attached (MPI_Buffer_attach)"
                            : "the attached buffer of " + std::to_string(g_bsend.size) +
                                  " bytes has no room for " + std::to_string(bytes) +
                                  " + MPI_BSEND_OVERHEAD bytes");
    }
    std::span<std::byte> copy(g_bsend.base + offset, bytes);
    pack(buf, n, *type, 0, copy);
    auto id = engine.isend(peer, comm->context, tag, copy, SendMode::standard);
    if (!id) runtime_failure(function, id.error());
    trace_sent(peer, tag, bytes, *id);
    MPI_Request inner = new_request(nexo_mpi_request::Kind::send, comm);
    inner->id = *id;
    adopt_request(inner, offset);
    *out = new_request(nexo_mpi_request::Kind::done, MPI_COMM_NULL, storage);
    fill_status(&(*out)->status, comm->rank, tag, static_cast<std::int64_t>(bytes), false,
                MPI_SUCCESS);
    return MPI_SUCCESS;
  }
  if (mode == Mode::standard) {
    if (auto dense = dense_bytes(buf, n, type)) {
      // A small message with nothing queued ahead goes straight out and completes here.
      auto now = runtime()->send_now(peer, comm->context, tag, *dense);
      if (!now) runtime_failure(function, now.error());
      if (*now) {
        trace_sent(peer, tag, dense->size(), **now);
        *out = new_request(nexo_mpi_request::Kind::done, MPI_COMM_NULL, storage);
        fill_status(&(*out)->status, comm->rank, tag, static_cast<std::int64_t>(dense->size()),
                    false, MPI_SUCCESS);
        return MPI_SUCCESS;
      }
    }
  }
  MPI_Request request = new_request(nexo_mpi_request::Kind::send, comm, storage);
  std::span<const std::byte> data;
  if (auto dense = dense_bytes(buf, n, type)) {
    data = *dense;
  } else {
    request->staging.resize(packed_size(n, *type));
    pack(buf, n, *type, 0, request->staging);
    data = request->staging;
  }
  auto id = engine.isend(peer, comm->context, tag, data, engine_mode(mode));
  if (!id) runtime_failure(function, id.error());
  trace_sent(peer, tag, data.size(), *id);
  request->id = *id;
  *out = request;
  return MPI_SUCCESS;
}

// `blocking`: MPI_Recv's own request (in `storage`), which may complete here at once.
int start_recv(void* buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm,
               MPI_Request* out, const char* function, nexo_mpi_request* storage = nullptr,
               bool blocking = false) {
  if (int rc = check_initialized(function); rc != MPI_SUCCESS) return rc;
  if (int rc = check_buffer(comm, buf, count, type, function); rc != MPI_SUCCESS) return rc;
  if (int rc = check_rank(comm, source, true, function); rc != MPI_SUCCESS) return rc;
  if (int rc = check_tag(comm, tag, true, function); rc != MPI_SUCCESS) return rc;
  if (source == MPI_PROC_NULL) {
    *out = new_request(nexo_mpi_request::Kind::done, MPI_COMM_NULL, storage);
    (*out)->status = proc_null_status();
    return MPI_SUCCESS;
  }
  const auto n = static_cast<std::size_t>(count);
  if (blocking) {
    if (auto dense = dense_bytes(buf, n, type)) {
      // Nothing else outstanding: the next small message that matches goes straight in.
      const int from =
          source == MPI_ANY_SOURCE ? kAnySource : comm->world[static_cast<std::size_t>(source)];
      auto now =
          runtime()->receive_now(from, comm->context, tag == MPI_ANY_TAG ? kAnyTag : tag, *dense);
      if (!now) runtime_failure(function, now.error());
      if (const auto& s = *now) {
        trace_received(s->source, s->tag, s->count, s->message);
        *out = new_request(nexo_mpi_request::Kind::done, MPI_COMM_NULL, storage);
        fill_status(&(*out)->status, comm->from_world[static_cast<std::size_t>(s->source)], s->tag,
                    static_cast<std::int64_t>(s->count), false, MPI_SUCCESS);
        return MPI_SUCCESS;
      }
    }
  }
  MPI_Request request = new_request(nexo_mpi_request::Kind::receive, comm, storage);
  std::span<std::byte> into;
  if (auto dense = dense_bytes(buf, n, type)) {
    into = *dense;
  } else {
    request->staging.resize(packed_size(n, *type));
    into = request->staging;
    request->buffer = buf;
    request->count = n;
    request->type = type;
    retain(type);
  }
  const int peer =
      source == MPI_ANY_SOURCE ? kAnySource : comm->world[static_cast<std::size_t>(source)];
  auto id =
      runtime()->engine().irecv(peer, comm->context, tag == MPI_ANY_TAG ? kAnyTag : tag, into);
  if (!id) runtime_failure(function, id.error());
  request->id = *id;
  *out = request;
  return MPI_SUCCESS;
}

// Waits for one request, releases it, returns its code through the communicator's handler.
int wait_one(MPI_Request* request, MPI_Status* status, const char* function) {
  MPI_Request r = *request;
  MPI_Comm comm = r->comm;
  if (comm != MPI_COMM_NULL) retain_comm(comm);
  if (!is_complete(r)) {
    wait_until(function, [r] {
      reap_adopted();
      return is_complete(r);
    });
  }
  const int code = finish(r, status);
  *request = MPI_REQUEST_NULL;
  int rc = MPI_SUCCESS;
  if (code != MPI_SUCCESS)
    rc = comm_error(comm, code, function, "the message is longer than the receive buffer");
  if (comm != MPI_COMM_NULL) release_comm(comm);
  return rc;
}

int check_request_array(int count, const MPI_Request* requests, const char* function) {
  if (int rc = check_initialized(function); rc != MPI_SUCCESS) return rc;
  if (count < 0)
    return comm_error(MPI_COMM_NULL, MPI_ERR_COUNT, function,
                      "count " + std::to_string(count) + " < 0");
  if (count > 0 && requests == nullptr)
    return comm_error(MPI_COMM_NULL, MPI_ERR_REQUEST, function, "the request array is null");
  for (int i = 0; i < count; ++i) {
    if (requests[i] != MPI_REQUEST_NULL && !is_request(requests[i]))
      return comm_error(MPI_COMM_NULL, MPI_ERR_REQUEST, function,
                        "request " + std::to_string(i) + " is not a valid request");
  }
  return MPI_SUCCESS;
}

MPI_Status empty_status() {
  MPI_Status s{};
  fill_status(&s, MPI_ANY_SOURCE, MPI_ANY_TAG, 0, false, MPI_SUCCESS);
  return s;
}

}  // namespace

void reap_adopted() {
  for (auto it = g_released.begin(); it != g_released.end();) {
    if (!is_complete(it->request)) {
      ++it;
      continue;
    }
    (void)finish(it->request, MPI_STATUS_IGNORE);
    if (it->bsend_offset != SIZE_MAX) g_bsend.used.erase(it->bsend_offset);
    it = g_released.erase(it);
  }
}

void adopt_request(MPI_Request request, std::size_t bsend_offset) {
  g_released.push_back({request, bsend_offset});
}

bool adopted_empty() {
  reap_adopted();
  return g_released.empty();
}

}  // namespace nexo::mpi

using namespace nexo::mpi;

extern "C" {

int MPI_Isend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
              MPI_Request* request) {
  TraceCall trace(__func__);
  if (request == nullptr) return comm_error(comm, MPI_ERR_REQUEST, __func__, "request is null");
  return start_send(buf, count, datatype, dest, tag, comm, Mode::standard, request, __func__);
}

int MPI_Issend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
               MPI_Request* request) {
  TraceCall trace(__func__);
  if (request == nullptr) return comm_error(comm, MPI_ERR_REQUEST, __func__, "request is null");
  return start_send(buf, count, datatype, dest, tag, comm, Mode::synchronous, request, __func__);
}

int MPI_Ibsend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
               MPI_Request* request) {
  TraceCall trace(__func__);
  if (request == nullptr) return comm_error(comm, MPI_ERR_REQUEST, __func__, "request is null");
  return start_send(buf, count, datatype, dest, tag, comm, Mode::buffered, request, __func__);
}

int MPI_Irsend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
               MPI_Request* request) {
  TraceCall trace(__func__);
  if (request == nullptr) return comm_error(comm, MPI_ERR_REQUEST, __func__, "request is null");
  return start_send(buf, count, datatype, dest, tag, comm, Mode::ready, request, __func__);
}

int MPI_Irecv(void* buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
              MPI_Request* request) {
  TraceCall trace(__func__);
  if (request == nullptr) return comm_error(comm, MPI_ERR_REQUEST, __func__, "request is null");
  return start_recv(buf, count, datatype, source, tag, comm, request, __func__);
}

namespace {
int blocking_send(const void* buf, int count, MPI_Datatype datatype, int dest, int tag,
                  MPI_Comm comm, Mode mode, const char* function) {
  nexo_mpi_request storage;  // the request never leaves this call
  MPI_Request request = MPI_REQUEST_NULL;
  if (int rc =
          start_send(buf, count, datatype, dest, tag, comm, mode, &request, function, &storage);
      rc != MPI_SUCCESS)
    return rc;
  return wait_one(&request, MPI_STATUS_IGNORE, function);
}
}  // namespace

int MPI_Send(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm) {
  TraceCall trace(__func__);
  return blocking_send(buf, count, datatype, dest, tag, comm, Mode::standard, __func__);
}

int MPI_Ssend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm) {
  TraceCall trace(__func__);
  return blocking_send(buf, count, datatype, dest, tag, comm, Mode::synchronous, __func__);
}

int MPI_Bsend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm) {
  TraceCall trace(__func__);
  return blocking_send(buf, count, datatype, dest, tag, comm, Mode::buffered, __func__);
}

int MPI_Rsend(const void* buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm) {
  TraceCall trace(__func__);
  return blocking_send(buf, count, datatype, dest, tag, comm, Mode::ready, __func__);
}

int MPI_Recv(void* buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
             MPI_Status* status) {
  TraceCall trace(__func__);
  nexo_mpi_request storage;  // the request never leaves this call
  MPI_Request request = MPI_REQUEST_NULL;
  if (int rc =
          start_recv(buf, count, datatype, source, tag, comm, &request, __func__, &storage, true);
      rc != MPI_SUCCESS)
    return rc;
  return wait_one(&request, status, __func__);
}

int MPI_Sendrecv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, int dest, int sendtag,
                 void* recvbuf, int recvcount, MPI_Datatype recvtype, int source, int recvtag,
                 MPI_Comm comm, MPI_Status* status) {
  TraceCall trace(__func__);
  nexo_mpi_request receive_storage, send_storage;  // never leave this call
  MPI_Request receive = MPI_REQUEST_NULL;
  MPI_Request send = MPI_REQUEST_NULL;
  if (int rc = start_recv(recvbuf, recvcount, recvtype, source, recvtag, comm, &receive, __func__,
                          &receive_storage);
      rc != MPI_SUCCESS)
    return rc;
  if (int rc = start_send(sendbuf, sendcount, sendtype, dest, sendtag, comm, Mode::standard, &send,
                          __func__, &send_storage);
      rc != MPI_SUCCESS) {
    // The receive stays posted in the engine; cancel it so nothing writes recvbuf later.
    if (receive->kind == nexo_mpi_request::Kind::receive) runtime()->engine().cancel(receive->id);
    (void)wait_one(&receive, MPI_STATUS_IGNORE, __func__);
    return rc;
  }
  const int sent = wait_one(&send, MPI_STATUS_IGNORE, __func__);
  const int received = wait_one(&receive, status, __func__);
  return received != MPI_SUCCESS ? received : sent;
}

int MPI_Buffer_attach(void* buffer, int size) {
  TraceCall trace(__func__);
  if (int rc = check_initialized(__func__); rc != MPI_SUCCESS) return rc;
  if (size < 0)
    return comm_error(MPI_COMM_NULL, MPI_ERR_ARG, __func__,
                      "size " + std::to_string(size) + " < 0");
  if (buffer == nullptr && size > 0)
    return comm_error(MPI_COMM_NULL, MPI_ERR_BUFFER, __func__, "null buffer");
  if (g_bsend.base != nullptr)
    return comm_error(MPI_COMM_NULL, MPI_ERR_BUFFER, __func__,
                      "a buffer is already attached (MPI_Buffer_detach it first)");
  g_bsend.base = static_cast<std::byte*>(buffer);
  g_bsend.size = static_cast<std::size_t>(size);
  g_bsend.used.clear();
  return MPI_SUCCESS;
}

int MPI_Buffer_detach(void* buffer_addr, int* size) {
  TraceCall trace(__func__);
  if (int rc = check_initialized(__func__); rc != MPI_SUCCESS) return rc;
  if (buffer_addr == nullptr || size == nullptr)
    return comm_error(MPI_COMM_NULL, MPI_ERR_ARG, __func__, "buffer_addr or size is null");
  // Blocks until every message buffered in it has gone (MPI 3.1 §3.6.1).
  wait_until(__func__, [] {
    reap_adopted();
    return g_bsend.used.empty();
  });
  void* base = g_bsend.base;
  std::memcpy(buffer_addr, &base, sizeof base);
  *size = static_cast<int>(g_bsend.size);
  g_bsend = {};
  return MPI_SUCCESS;
}

int MPI_Wait(MPI_Request* request, MPI_Status* status) {
  TraceCall trace(__func__);
  if (int rc = check_initialized(__func__); rc != MPI_SUCCESS) return rc;
  if (request == nullptr)
    return comm_error(MPI_COMM_NULL, MPI_ERR_REQUEST, __func__, "request is null");
  if (*request == MPI_REQUEST_NULL) {
    if (status != MPI_STATUS_IGNORE) *status = empty_status();
    return MPI_SUCCESS;
  }
  if (!is_request(*request))
    return comm_error(MPI_COMM_NULL, MPI_ERR_REQUEST, __func__, "not a valid request");
  return wait_one(request, status, __func__);
}

int MPI_Test(MPI_Request* request, int* flag, MPI_Status* status) {
  TraceCall trace(__func__);
  if (int rc = check_initialized(__func__); rc != MPI_SUCCESS) return rc;
  if (request == nullptr || flag == nullptr)
    return comm_error(MPI_COMM_NULL, MPI_ERR_ARG, __func__, "request or flag is null");
  if (*request == MPI_REQUEST_NULL) {
    *flag = 1;
    if (status != MPI_STATUS_IGNORE) *status = empty_status();
    return MPI_SUCCESS;
  }
  if (!is_request(*request))
    return comm_error(MPI_COMM_NULL, MPI_ERR_REQUEST, __func__, "not a valid request");
  if (auto moved = runtime()->progress(); !moved) runtime_failure(__func__, moved.error());
  reap_adopted();
  *flag = is_complete(*request) ? 1 : 0;
  if (*flag == 0) return MPI_SUCCESS;
  return wait_one(request, status, __func__);
}

int MPI_Waitall(int count, MPI_Request requests[], MPI_Status statuses[]) {
  TraceCall trace(__func__);
  if (int rc = check_request_array(count, requests, __func__); rc != MPI_SUCCESS) return rc;
  int error = MPI_SUCCESS;
  wait_until(__func__, [&] {
    reap_adopted();
    for (int i = 0; i < count; ++i) {
      if (requests[i] != MPI_REQUEST_NULL && !is_complete(requests[i])) return false;
    }
    return true;
  });
  MPI_Comm failed = MPI_COMM_NULL;
  for (int i = 0; i < count; ++i) {
    MPI_Status* status = statuses == MPI_STATUSES_IGNORE ? MPI_STATUS_IGNORE : &statuses[i];
    if (requests[i] == MPI_REQUEST_NULL) {
      if (status != MPI_STATUS_IGNORE) *status = empty_status();
      continue;
    }
    MPI_Comm comm = requests[i]->comm;
    const int code = finish(requests[i], status);
    requests[i] = MPI_REQUEST_NULL;
    if (status != MPI_STATUS_IGNORE) status->MPI_ERROR = code;
    if (code != MPI_SUCCESS) {
      error = MPI_ERR_IN_STATUS;
      failed = comm;
    }
  }
  if (error != MPI_SUCCESS)
    return comm_error(failed, error, __func__, "a receive's message was longer than its buffer");
  return MPI_SUCCESS;
}

int MPI_Testall(int count, MPI_Request requests[], int* flag, MPI_Status statuses[]) {
  TraceCall trace(__func__);
  if (int rc = check_request_array(count, requests, __func__); rc != MPI_SUCCESS) return rc;
  if (flag == nullptr) return comm_error(MPI_COMM_NULL, MPI_ERR_ARG, __func__, "flag is null");
  if (auto moved = runtime()->progress(); !moved) runtime_failure(__func__, moved.error());
  reap_adopted();
  for (int i = 0; i < count; ++i) {
    if (requests[i] != MPI_REQUEST_NULL && !is_complete(requests[i])) {
      *flag = 0;  // none is released unless all are complete (MPI 3.1 §3.7.5)
      return MPI_SUCCESS;
    }
  }
  *flag = 1;
  return MPI_Waitall(count, requests, statuses);
}

namespace {
// The first complete request's index, or -1; `active` tells whether any is not null.
int first_complete(int count, MPI_Request requests[], bool& active) {
  active = false;
  for (int i = 0; i < count; ++i) {
    if (requests[i] == MPI_REQUEST_NULL) continue;
    active = true;
    if (is_complete(requests[i])) return i;
  }
  return -1;
}
}  // namespace

int MPI_Waitany(int count, MPI_Request requests[], int* index, MPI_Status* status) {
  TraceCall trace(__func__);
  if (int rc = check_request_array(count, requests, __func__); rc != MPI_SUCCESS) return rc;
  if (index == nullptr) return comm_error(MPI_COMM_NULL, MPI_ERR_ARG, __func__, "index is null");
  bool active = false;
  int found = first_complete(count, requests, active);
  if (!active) {
    *index = MPI_UNDEFINED;
    if (status != MPI_STATUS_IGNORE) *status = empty_status();
    return MPI_SUCCESS;
  }
  if (found < 0) {
    wait_until(__func__, [&] {
      reap_adopted();
      found = first_complete(count, requests, active);
      return found >= 0;
    });
  }
  *index = found;
  return wait_one(&requests[found], status, __func__);
}

int MPI_Testany(int count, MPI_Request requests[], int* index, int* flag, MPI_Status* status) {
  TraceCall trace(__func__);
  if (int rc = check_request_array(count, requests, __func__); rc != MPI_SUCCESS) return rc;
  if (index == nullptr || flag == nullptr)
    return comm_error(MPI_COMM_NULL, MPI_ERR_ARG, __func__, "index or flag is null");
  if (auto moved = runtime()->progress(); !moved) runtime_failure(__func__, moved.error());
  reap_adopted();
  bool active = false;
  const int found = first_complete(count, requests, active);
  if (!active) {
    *flag = 1;
    *index = MPI_UNDEFINED;
    if (status != MPI_STATUS_IGNORE) *status = empty_status();
    return MPI_SUCCESS;
  }
  if (found < 0) {
    *flag = 0;
    *index = MPI_UNDEFINED;
    return MPI_SUCCESS;
  }
  *flag = 1;
  *index = found;
  return wait_one(&requests[found], status, __func__);
}

int MPI_Waitsome(int incount, MPI_Request requests[], int* outcount, int indices[],
                 MPI_Status statuses[]) {
  TraceCall trace(__func__);
  if (int rc = check_request_array(incount, requests, __func__); rc != MPI_SUCCESS) return rc;
  if (outcount == nullptr || (incount > 0 && indices == nullptr))
    return comm_error(MPI_COMM_NULL, MPI_ERR_ARG, __func__, "outcount or indices is null");
  bool active = false;
  int found = first_complete(incount, requests, active);
  if (!active) {
    *outcount = MPI_UNDEFINED;
    return MPI_SUCCESS;
  }
  if (found < 0) {
    wait_until(__func__, [&] {
      reap_adopted();
      found = first_complete(incount, requests, active);
      return found >= 0;
    });
  }
  int n = 0;
  int error = MPI_SUCCESS;
  MPI_Comm failed = MPI_COMM_NULL;
  for (int i = 0; i < incount; ++i) {
    if (requests[i] == MPI_REQUEST_NULL || !is_complete(requests[i])) continue;
    MPI_Status* status = statuses == MPI_STATUSES_IGNORE ? MPI_STATUS_IGNORE : &statuses[n];
    MPI_Comm comm = requests[i]->comm;
    const int code = finish(requests[i], status);
    requests[i] = MPI_REQUEST_NULL;
    if (status != MPI_STATUS_IGNORE) status->MPI_ERROR = code;
    if (code != MPI_SUCCESS) {
      error = MPI_ERR_IN_STATUS;
      failed = comm;
    }
    indices[n++] = i;
  }
  *outcount = n;
  if (error != MPI_SUCCESS)
    return comm_error(failed, error, __func__, "a receive's message was longer than its buffer");
  return MPI_SUCCESS;
}

int MPI_Request_free(MPI_Request* request) {
  TraceCall trace(__func__);
  if (int rc = check_initialized(__func__); rc != MPI_SUCCESS) return rc;
  if (request == nullptr || !is_request(*request))
    return comm_error(MPI_COMM_NULL, MPI_ERR_REQUEST, __func__, "not a valid request");
  // The operation goes on; the runtime releases it when it completes (MPI_Finalize waits).
  adopt_request(*request);
  *request = MPI_REQUEST_NULL;
  return MPI_SUCCESS;
}

int MPI_Cancel(MPI_Request* request) {
  TraceCall trace(__func__);
  if (int rc = check_initialized(__func__); rc != MPI_SUCCESS) return rc;
  if (request == nullptr || !is_request(*request))
    return comm_error(MPI_COMM_NULL, MPI_ERR_REQUEST, __func__, "not a valid request");
  // Receives that have not matched are cancelled; a send is not (MPI allows a cancel to fail:
  // MPI_Test_cancelled then says false).
  if ((*request)->kind == nexo_mpi_request::Kind::receive)
    (void)runtime()->engine().cancel((*request)->id);
  return MPI_SUCCESS;
}

int MPI_Test_cancelled(const MPI_Status* status, int* flag) {
  if (status == nullptr || flag == nullptr)
    return comm_error(MPI_COMM_NULL, MPI_ERR_ARG, __func__, "status or flag is null");
  *flag = status->nexo_cancelled != 0 ? 1 : 0;
  return MPI_SUCCESS;
}

namespace {
int probe(int source, int tag, MPI_Comm comm, int* flag, MPI_Status* status, bool block,
          const char* function) {
  if (int rc = check_initialized(function); rc != MPI_SUCCESS) return rc;
  if (!is_comm(comm)) return comm_error(comm, MPI_ERR_COMM, function, "invalid communicator");
  if (int rc = check_rank(comm, source, true, function); rc != MPI_SUCCESS) return rc;
  if (int rc = check_tag(comm, tag, true, function); rc != MPI_SUCCESS) return rc;
  if (source == MPI_PROC_NULL) {
    if (flag != nullptr) *flag = 1;
    if (status != MPI_STATUS_IGNORE) *status = proc_null_status();
    return MPI_SUCCESS;
  }
  const int peer =
      source == MPI_ANY_SOURCE ? kAnySource : comm->world[static_cast<std::size_t>(source)];
  const int pattern_tag = tag == MPI_ANY_TAG ? kAnyTag : tag;
  Engine& engine = runtime()->engine();
  std::optional<Status> found;
  if (block) {
    wait_until(function, [&] {
      reap_adopted();
      found = engine.iprobe(peer, comm->context, pattern_tag);
      return found.has_value();
    });
  } else {
    if (auto moved = runtime()->progress(); !moved) runtime_failure(function, moved.error());
    found = engine.iprobe(peer, comm->context, pattern_tag);
  }
  if (flag != nullptr) *flag = found ? 1 : 0;
  if (found)
    fill_status(status, comm->from_world[static_cast<std::size_t>(found->source)], found->tag,
                static_cast<std::int64_t>(found->count), false, MPI_SUCCESS);
  return MPI_SUCCESS;
}
}  // namespace

int MPI_Probe(int source, int tag, MPI_Comm comm, MPI_Status* status) {
  TraceCall trace(__func__);
  return probe(source, tag, comm, nullptr, status, true, __func__);
}

int MPI_Iprobe(int source, int tag, MPI_Comm comm, int* flag, MPI_Status* status) {
  TraceCall trace(__func__);
  if (flag == nullptr) return comm_error(comm, MPI_ERR_ARG, __func__, "flag is null");
  return probe(source, tag, comm, flag, status, false, __func__);
}

}  // extern "C"
