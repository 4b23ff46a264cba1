// The datatype engine against a naive model: random nested vectors and contiguous types over
// every kind of leaf, negative and zero strides included, expanded into their typemaps by hand
// and compared with the engine's bounds, pack, piecewise pack, unpack and reductions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "nexo/mpi/datatype.hpp"
#include "nexo/mpi/op.hpp"

namespace nexo::mpi {
namespace {

struct Piece {
  std::int64_t disp;
  std::size_t len;
};

// The typemap of one element of t at disp, as the byte runs its basic members occupy, in
// typemap order; leaf_starts gets the displacement of every leaf element.
void expand(const Datatype& t, std::int64_t disp, std::vector<Piece>& pieces,
            std::vector<std::int64_t>& leaf_starts) {
  switch (t.kind) {
    case TypeKind::basic:
      pieces.push_back({disp, static_cast<std::size_t>(t.size)});
      leaf_starts.push_back(disp);
      return;
    case TypeKind::pair:
      pieces.push_back({disp, static_cast<std::size_t>(t.value_size)});
      pieces.push_back({disp + t.index_offset, sizeof(int)});
      leaf_starts.push_back(disp);
      return;
    case TypeKind::vector:
      for (std::int64_t i = 0; i < t.count; ++i) {
        for (std::int64_t j = 0; j < t.blocklength; ++j) {
          expand(*t.child, disp + i * t.stride_bytes + j * t.child->extent, pieces, leaf_starts);
        }
      }
      return;
  }
}

struct RandomType {
  std::vector<MPI_Datatype> made;  // to free, the last is the type
  MPI_Datatype type = MPI_DATATYPE_NULL;
};

MPI_Datatype random_type(std::mt19937& rng, int depth, std::vector<MPI_Datatype>& made) {
  static const MPI_Datatype leaves[] = {MPI_CHAR,      MPI_SHORT,          MPI_INT,
                                        MPI_DOUBLE,    MPI_2INT,           MPI_DOUBLE_INT,
                                        MPI_SHORT_INT, MPI_LONG_DOUBLE_INT};
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  if (depth == 0 || pick(0, 3) == 0) return leaves[pick(0, 7)];
  MPI_Datatype child = random_type(rng, depth - 1, made);
  MPI_Datatype t = MPI_DATATYPE_NULL;
  if (pick(0, 2) == 0) {
    EXPECT_EQ(MPI_Type_contiguous(pick(0, 3), child, &t), MPI_SUCCESS);
  } else {
    EXPECT_EQ(MPI_Type_vector(pick(0, 3), pick(0, 3), pick(-4, 4), child, &t), MPI_SUCCESS);
  }
  made.push_back(t);
  return t;
}

TEST(MpiDatatypeRandom, MatchesTheTypemapModel) {
  // A fresh seed each run, printed on failure; NEXO_MPI_SEED=<n> replays one.
  const char* env = std::getenv("NEXO_MPI_SEED");
  const auto seed = env != nullptr && *env != 0
                        ? static_cast<unsigned>(std::strtoul(env, nullptr, 10))
                        : std::random_device{}();
  SCOPED_TRACE(::testing::Message()
               << "seed " << seed << " (replay: NEXO_MPI_SEED=" << seed << ")");
  std::mt19937 rng(seed);
  for (int round = 0; round < 400; ++round) {
    std::vector<MPI_Datatype> made;
    MPI_Datatype t = random_type(rng, 3, made);
    ASSERT_NE(t, MPI_DATATYPE_NULL);
    std::size_t count = std::uniform_int_distribution<std::size_t>(0, 3)(rng);

    // The model: pieces of `count` elements, element k one extent after element k-1.
    std::vector<Piece> one;
    std::vector<std::int64_t> leaf_one;
    expand(*t, 0, one, leaf_one);
    std::size_t size = 0;
    for (const Piece& p : one)
      size += p.len;
    ASSERT_EQ(static_cast<std::size_t>(t->size), size);
    if (!leaf_one.empty()) {
      const Datatype& leaf = leaf_of(*t);
      auto [lo, hi] = std::minmax_element(leaf_one.begin(), leaf_one.end());
      ASSERT_EQ(t->lb, *lo);
      ASSERT_EQ(t->extent, *hi + leaf.extent - *lo);
    } else {
      ASSERT_EQ(t->lb, 0);
      ASSERT_EQ(t->extent, 0);
    }
    std::vector<Piece> pieces;
    std::vector<std::int64_t> leaves;
    for (std::size_t k = 0; k < count; ++k) {
      expand(*t, static_cast<std::int64_t>(k) * t->extent, pieces, leaves);
    }

    // A buffer spanning every element, with an origin that keeps negative offsets inside.
    std::int64_t low = std::min<std::int64_t>(0, t->lb);
    std::int64_t high = t->lb + static_cast<std::int64_t>(count) * t->extent + 32;
    std::size_t span = static_cast<std::size_t>(high - low + 32);
    std::int64_t origin = 16 - low;
    std::vector<std::byte> src(span);
    for (std::size_t i = 0; i < span; ++i)
      src[i] = static_cast<std::byte>(i * 7 + 3);

    std::vector<std::byte> want;
    for (const Piece& p : pieces) {
      for (std::size_t b = 0; b < p.len; ++b) {
        want.push_back(src[static_cast<std::size_t>(origin + p.disp) + b]);
      }
    }
    std::vector<std::byte> packed(packed_size(count, *t));
    ASSERT_EQ(packed.size(), want.size());
    ASSERT_EQ(pack(src.data() + origin, count, *t, 0, packed), packed.size());
    ASSERT_EQ(packed, want) << "round " << round;

    // Piecewise, in random chunks.
    std::vector<std::byte> pieced(packed.size());
    for (std::size_t at = 0; at < pieced.size();) {
      std::size_t n =
          std::min(pieced.size() - at, std::uniform_int_distribution<std::size_t>(1, 9)(rng));
      ASSERT_EQ(pack(src.data() + origin, count, *t, at, std::span(pieced).subspan(at, n)), n);
      at += n;
    }
    ASSERT_EQ(pieced, want);

    // Unpack writes the typemap's bytes (in order: the last write wins where they overlap)
    // and nothing else.
    std::vector<std::byte> dst(span, std::byte{0xee}), model(span, std::byte{0xee});
    std::size_t pos = 0;
    for (const Piece& p : pieces) {
      std::memcpy(model.data() + origin + p.disp, packed.data() + pos, p.len);
      pos += p.len;
    }
    ASSERT_EQ(unpack(packed, dst.data() + origin, count, *t, 0), packed.size());
    ASSERT_EQ(dst, model);

    // A reduction visits every leaf element once per occurrence in the typemap.
    if (leaf_of(*t).leaf_id == BasicId::int_) {
      std::vector<int> ones(span / sizeof(int) + 1, 1), acc(span / sizeof(int) + 1, 0),
          expect(acc.size(), 0);
      auto int_origin = static_cast<std::int64_t>(sizeof(int)) * 8 - low;  // int-aligned
      acc.resize(acc.size() + 16);
      expect.resize(acc.size());
      ones.resize(acc.size(), 1);
      for (std::int64_t d : leaves)
        ++expect[static_cast<std::size_t>((int_origin + d) / 4)];
      auto* base = reinterpret_cast<std::byte*>(acc.data()) + int_origin;
      auto* in = reinterpret_cast<const std::byte*>(ones.data()) + int_origin;
      ASSERT_EQ(apply_op(MPI_SUM, in, base, count, t), MPI_SUCCESS);
      ASSERT_EQ(acc, expect);
    }

    for (auto it = made.rbegin(); it != made.rend(); ++it)
      ASSERT_EQ(MPI_Type_free(&*it), MPI_SUCCESS);
  }
}

}  // namespace
}  // namespace nexo::mpi
