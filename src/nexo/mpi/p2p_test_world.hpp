// Test support for the engine: N engines wired by hand (p2p_test*.cpp).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "nexo/mpi/p2p.hpp"

namespace nexo::mpi {

inline std::vector<std::byte> pattern_bytes(std::size_t size, unsigned seed) {
  std::vector<std::byte> bytes(size);
  for (std::size_t i = 0; i < size; ++i)
    bytes[i] = std::byte((i * 131 + seed * 7 + i / 251) & 0xFF);
  return bytes;
}

// N engines, world ranks 0..N-1, and the frames in flight between them.
struct World {
  explicit World(int n, EngineConfig base = small_config()) {
    for (int r = 0; r < n; ++r) {
      EngineConfig c = base;
      c.rank = r;
      ranks.push_back(std::make_unique<Engine>(c));
    }
    buffer.resize(ranks[0]->frame_capacity());
  }
  static EngineConfig small_config() {
    EngineConfig c;
    c.eager_limit = 64;
    c.max_frame = 100;
    return c;
  }
  Engine& operator[](int r) { return *ranks[r]; }

  // Moves one frame from `from` to `to`; false if none waits.
  bool step(int from, int to) {
    auto n = ranks[from]->poll_transmit(to, buffer);
    EXPECT_TRUE(n) << n.error().to_string();
    if (!n || *n == 0) return false;
    ++frames;
    auto taken = ranks[to]->on_frame(from, std::span(buffer).first(*n));
    EXPECT_TRUE(taken) << taken.error().to_string();
    return true;
  }
  // Moves frames until none is left anywhere.
  void pump() {
    for (bool moved = true; moved;) {
      moved = false;
      for (int r = 0; r < static_cast<int>(ranks.size()); ++r)
        for (int peer : ranks[r]->peers_with_output())
          moved |= step(r, peer);
    }
  }
  std::optional<Status> test(int rank, Engine::RequestId id) {
    auto s = ranks[rank]->test(id);
    EXPECT_TRUE(s) << s.error().to_string();
    return s ? *s : std::nullopt;
  }

  std::vector<std::unique_ptr<Engine>> ranks;
  std::vector<std::byte> buffer;
  int frames = 0;
};

inline std::span<const std::byte> bytes_of(const int& v) {
  return std::as_bytes(std::span(&v, 1));
}
inline std::span<std::byte> bytes_of(int& v) {
  return std::as_writable_bytes(std::span(&v, 1));
}

}  // namespace nexo::mpi
