// libFuzzer target for the frame decoder and the engine's state: any sequence
// of frames from any of three peers, fed to rank 0 while it has sends (eager,
// synchronous, rendezvous) and receives (exact and wildcard) in progress, with
// its own frames polled in between: nothing is read or written out of bounds,
// a refused frame changes nothing, and requests are never invented.
//
// Input: records of: from u8 (low 2 bits: rank 1..3, 0 means 1), length u8,
// then `length` bytes of frame. Records of one byte-pattern family tend to be
// refused; the fuzzer finds valid headers from the seed corpus quickly.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "nexo/mpi/p2p.hpp"

namespace {

using namespace nexo;
using namespace nexo::mpi;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  EngineConfig config;
  config.eager_limit = 16;
  config.max_frame = 8;
  Engine engine(config);
  std::vector<std::byte> send_small(8, std::byte{1}), send_large(40, std::byte{2});
  std::vector<std::byte> recv_a(8), recv_b(64), recv_c(4);
  for (int peer = 1; peer <= 3; ++peer) {
    check(engine.isend(peer, 1, 0, send_small).has_value());
    check(engine.isend(peer, 1, 1, send_small, SendMode::synchronous).has_value());
    check(engine.isend(peer, 1, 2, send_large).has_value());
  }
  check(engine.irecv(1, 1, 0, recv_a).has_value());
  check(engine.irecv(kAnySource, 1, kAnyTag, recv_b).has_value());
  check(engine.irecv(kAnySource, 2, 3, recv_c).has_value());
  const std::size_t initial = engine.live_requests();
  std::vector<std::byte> out(engine.frame_capacity());
  std::size_t at = 0;
  while (at + 2 <= size) {
    const int from = (data[at] & 3) == 0 ? 1 : (data[at] & 3);
    const std::size_t length = data[at + 1];
    at += 2;
    if (length > size - at) break;
    // A heap copy of exactly the frame's bytes, so that ASan sees any over-read.
    std::vector<std::byte> frame(length);
    for (std::size_t i = 0; i < length; ++i)
      frame[i] = std::byte{data[at + i]};
    at += length;
    (void)engine.on_frame(from, frame);
    for (int peer : engine.peers_with_output()) {
      auto written = engine.poll_transmit(peer, out);
      check(written.has_value() && *written <= out.size());
    }
    check(engine.live_requests() <= initial);
  }
  return 0;
}
