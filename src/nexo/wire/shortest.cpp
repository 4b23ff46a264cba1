// Schubfach (R. Giulietti) for double and float, and std::to_chars's layout of the digits.
//
// v = c * 2^q. Its rounding interval (the reals that read back to v) is
// [v - 2^q / 2, v + 2^q / 2], or [v - 2^q / 4, v + 2^q / 2] when c is the smallest
// significand of a binade (not the lowest), ends included iff c is even. Scaled by
// 10^-k with k = floor(log10(width)) and by 4, the centre and the ends are
//   vb = 4 c 2^q 10^-k,  vbl, vbr,
// computed as round-to-odd integers from one 128-bit (64-bit for float) upper
// approximation g of 10^-k (Giulietti shows these round-to-odd values compare with
// integers exactly as the real values do). The interval is at least one unit of 10^k
// wide and less than ten, so
//   - at most one multiple of 10 * 10^k lies in it: if one does, it is the shortest;
//   - else the shortest have the digits of s = floor(vb / 4) or s + 1, and of those in
//     the interval the one closest to v is taken (ties: the even one).

#include "nexo/wire/shortest.hpp"

#include <bit>
#include <cstdint>
#include <cstring>

#include "nexo/wire/shortest_table.hpp"

namespace nexo::wire {
namespace {

using namespace shortest_detail;
__extension__ typedef unsigned __int128 u128;

struct Pairs {
  char c[200];
};
constexpr Pairs make_pairs() {
  Pairs p{};
  for (int i = 0; i < 100; ++i) {
    p.c[2 * i] = static_cast<char>('0' + i / 10);
    p.c[2 * i + 1] = static_cast<char>('0' + i % 10);
  }
  return p;
}
constexpr Pairs kPairs = make_pairs();

inline void put2(char* p, std::uint32_t x) {
  std::memcpy(p, kPairs.c + 2 * x, 2);
}

// Text is assembled in 64-bit words whose byte i is the text's byte i (the
// little-endian order); store8 writes one such word.
inline void store8(char* p, std::uint64_t w) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(p, &w, 8);
  } else {
    for (int i = 0; i < 8; ++i, w >>= 8)
      p[i] = static_cast<char>(w);
  }
}

// The 8 digits of x < 10^8 as a word, two digits per step in every lane at once: the
// two 4-digit halves in 32-bit lanes, then 2-digit halves in 16-bit lanes, then digits
// (q = y / 100 as y * 10486 >> 20 for y < 10^4, q = y / 10 as y * 103 >> 10 for y < 100).
inline std::uint64_t digits8(std::uint32_t x) {
  std::uint64_t v = (x / 10000) | (std::uint64_t{x % 10000} << 32);
  std::uint64_t q = ((v * 10486) >> 20) & 0x0000007f0000007fu;
  v = q | ((v - q * 100) << 16);
  q = ((v * 103) >> 10) & 0x000f000f000f000fu;
  v = q | ((v - q * 10) << 8);
  return v | 0x3030303030303030u;
}

// Byte j of the result: b's below l, '.' at l, a's above; 0 <= l <= 7.
inline std::uint64_t with_point(std::uint64_t a, std::uint64_t b, int l) {
  std::uint64_t low = (std::uint64_t{1} << (8 * l)) - 1;
  std::uint64_t dot = std::uint64_t{0xff} << (8 * l);
  return (b & low) | (std::uint64_t{'.'} << (8 * l)) | (a & ~(low | dot));
}

constexpr std::uint64_t kPow10[20] = {1,
                                      10,
                                      100,
                                      1000,
                                      10000,
                                      100000,
                                      1000000,
                                      10000000,
                                      100000000,
                                      1000000000,
                                      10000000000,
                                      100000000000,
                                      1000000000000,
                                      10000000000000,
                                      100000000000000,
                                      1000000000000000,
                                      10000000000000000,
                                      100000000000000000,
                                      1000000000000000000,
                                      10000000000000000000u};

// 10^(16 - n) for n <= 16: scales n digits to 16.
constexpr std::uint64_t kScale[18] = {0,
                                      1000000000000000,
                                      100000000000000,
                                      10000000000000,
                                      1000000000000,
                                      100000000000,
                                      10000000000,
                                      1000000000,
                                      100000000,
                                      10000000,
                                      1000000,
                                      100000,
                                      10000,
                                      1000,
                                      100,
                                      10,
                                      1,
                                      0};

// Decimal digits of d >= 1.
inline int count_digits(std::uint64_t d) {
  int t = (64 - std::countl_zero(d)) * 1233 >> 12;
  return t + (d >= kPow10[t] ? 1 : 0);
}

struct Decimal {
  std::uint64_t d;  // v's shortest digits are d's without its trailing zeros;
  int k;            // v reads back from d * 10^k; 1 <= d < 10^17
};

// Round to odd of (g * x) >> 128, g = hi:lo; the bits below 2^64 of the product are not
// looked at (g exceeds the real 10^-k 2^r by less than one, so an exact integer product
// stays exact).
inline std::uint64_t round_odd(const shortest_detail::U128& g, std::uint64_t x) {
  u128 mid = static_cast<u128>(g.hi) * x + ((static_cast<u128>(g.lo) * x) >> 64);
  return static_cast<std::uint64_t>(mid >> 64) | (static_cast<std::uint64_t>(mid) != 0 ? 1 : 0);
}

// Round to odd of (g * x) >> 64 (x < 2^32); the product's low 32 bits are not looked at.
inline std::uint64_t round_odd(std::uint64_t g, std::uint64_t x) {
  u128 p = static_cast<u128>(g) * x;
  return static_cast<std::uint64_t>(p >> 64) | ((static_cast<std::uint64_t>(p) >> 32) != 0 ? 1 : 0);
}

// Schubfach's choice, shared by double and float: vb, vbl, vbr as above; out = 1 when
// the interval's ends are excluded.
inline Decimal choose(std::uint64_t vb, std::uint64_t vbl, std::uint64_t vbr, std::uint64_t out,
                      int k) {
  // (Branch-free selects measured slower: they lengthen the dependency chain.)
  std::uint64_t s = vb >> 2;
  std::uint64_t sp = s / 10;  // the multiples of ten around: 10 sp, 10 sp + 10
  bool upin = vbl + out <= 40 * sp;
  bool wpin = 40 * sp + 40 + out <= vbr;
  std::uint64_t t = s + 1;
  bool uin = vbl + out <= 4 * s;
  bool win = 4 * t + out <= vbr;
  std::uint64_t mid = 4 * s + 2;
  bool closer_s = vb < mid || (vb == mid && (s & 1) == 0);
  bool take_s = uin && (!win || closer_s);
  std::uint64_t fine = take_s ? s : t;
  std::uint64_t coarse = 10 * (sp + (wpin ? 1 : 0));  // its trailing zeros go in emit
  return {upin != wpin ? coarse : fine, k};
}

inline Decimal to_decimal(std::uint64_t c, int q, bool irregular) {
  std::uint64_t cb = c << 2;
  std::uint64_t cbr = cb + 2, cbl;
  int k;
  if (!irregular) {
    cbl = cb - 2;
    k = floor_log10_pow2(q);
  } else {
    cbl = cb - 1;
    k = floor_log10_three_quarters_pow2(q);
  }
  int h = q + floor_log2_pow10(-k) + 1;  // 1..4
  const U128& g = kPow10Double[-k - kPow10DoubleMin];
  return choose(round_odd(g, cb << h), round_odd(g, cbl << h), round_odd(g, cbr << h), c & 1, k);
}

inline Decimal to_decimal_float(std::uint64_t c, int q, bool irregular) {
  std::uint64_t cb = c << 2;
  std::uint64_t cbr = cb + 2, cbl;
  int k;
  if (!irregular) {
    cbl = cb - 2;
    k = floor_log10_pow2(q);
  } else {
    cbl = cb - 1;
    k = floor_log10_three_quarters_pow2(q);
  }
  int h = q + floor_log2_pow10(-k) + 1;  // 1..4
  std::uint64_t g = kPow10Float[-k - kPow10FloatMin];
  return choose(round_odd(g, cb << h), round_odd(g, cbl << h), round_odd(g, cbr << h), c & 1, k);
}

// Writes d * 10^k as std::to_chars lays it out. An integer printed in fixed notation
// with more digits than d has is v's exact value c * 2^q (q > 0 only there).
// Bytes past the returned end, up to the documented maximum, are scratch.
template <bool Double>
char* emit(char* p, Decimal r, std::uint64_t c, int q, bool normal) {
  // A normal double's d has 16 or 17 digits (c 2^q 10^-k is in [2^52, 2^53 * 40 / 3)).
  int n0 = Double && normal ? 16 + (r.d >= kPow10[16] ? 1 : 0) : count_digits(r.d);
  int e = r.k + n0 - 1;  // scientific exponent

  // The digits, left-aligned: S[0..15] are w0 and w1 (padded with '0'), S[16] is s16.
  std::uint64_t d10 = r.d / 10;
  bool full = Double && n0 == 17;
  std::uint64_t x = full ? d10 : r.d * kScale[n0];
  char s16 = full ? static_cast<char>('0' + (r.d - d10 * 10)) : '0';
  std::uint64_t xh = x / 100000000;
  std::uint64_t w0 = digits8(static_cast<std::uint32_t>(xh));
  std::uint64_t w1 = digits8(static_cast<std::uint32_t>(x - xh * 100000000));
  // n, the significant digits: S up to its last digit that is not '0'.
  std::uint64_t z0 = w0 - 0x3030303030303030u, z1 = w1 - 0x3030303030303030u;
  int n = z1 != 0 ? 16 - std::countl_zero(z1) / 8 : 8 - std::countl_zero(z0) / 8;
  if (Double) n = s16 != '0' ? 17 : n;
  int sci = n + (n > 1 ? 1 : 0) + (e >= 100 || e <= -100 ? 5 : 4);

  // S at p: 8 bytes, then (if n > 8) 8 more, or for float's 9 digits one more.
  auto store_digits = [&](char* at) {
    store8(at, w0);
    if (n > 8) {
      if (Double)
        store8(at + 8, w1);
      else
        at[8] = static_cast<char>(w1);
    }
    if (Double) at[16] = s16;  // scratch when n < 17
  };

  if (e >= 0) {
    if (e >= n - 1) {
      if (e + 1 <= sci) {  // an integer: e + 1 digits
        if (q <= 0) {
          // v < 2^53 (float: 2^24): at most 16 (8) digits, the zeros included
          store8(p, w0);
          if (Double && e >= 8) store8(p + 8, w1);
        } else if constexpr (Double) {
          // v < 10^22 < 2^74 here; its exact digits (>= 16 of them, v >= 2^53).
          u128 v = static_cast<u128>(c) << q;
          auto hi = static_cast<std::uint64_t>(v / 10000000000000000u);
          auto lo = static_cast<std::uint64_t>(v % 10000000000000000u);
          int hn = e + 1 - 16;  // 0..6
          if (hn > 0) store8(p, digits8(static_cast<std::uint32_t>(hi)) >> (8 * (8 - hn)));
          store8(p + hn, digits8(static_cast<std::uint32_t>(lo / 100000000)));
          store8(p + hn + 8, digits8(static_cast<std::uint32_t>(lo % 100000000)));
        } else {
          // 2^24 <= v < 10^14 here: its exact e + 1 = 8..14 digits.
          std::uint64_t v = c << q;
          std::uint64_t hi = v / 100000000;
          if (e >= 8) store8(p, digits8(static_cast<std::uint32_t>(hi)) >> (8 * (15 - e)));
          store8(p + (e + 1 - 8), digits8(static_cast<std::uint32_t>(v - hi * 100000000)));
        }
        return p + e + 1;
      }
    } else {  // digits on both sides of the point (n + 1 <= sci always): l = e + 1
      store_digits(p + 1);
      int l = e + 1;
      if (l < 8) {
        store8(p, with_point(w0 << 8, w0, l));
      } else {
        store8(p, w0);
        if (l < 16) {
          store8(p + 8, with_point((w1 << 8) | (w0 >> 56), w1, l - 8));
        } else {  // Double, n == 17: S[16] is at p[17] already
          store8(p + 8, w1);
          p[16] = '.';
        }
      }
      return p + n + 1;
    }
  } else if (n + 1 - e <= sci) {     // 0.000ddd
    store8(p, 0x3030303030302e30u);  // "0.000000"
    store_digits(p + 1 - e);
    return p + n + 1 - e;
  }
  // d.ddde+XX
  p[0] = static_cast<char>(w0);
  if (n > 1) {
    p[1] = '.';
    store8(p + 2, (w0 >> 8) | (w1 << 56));
    if (Double && n > 9) store8(p + 10, w1 >> 8);
    if (Double) p[17] = s16;  // scratch when n < 17 (the exponent follows)
    p += n + 1;
  } else {
    p += 1;
  }
  p[0] = 'e';
  p[1] = e < 0 ? '-' : '+';
  p += 2;
  auto a = static_cast<std::uint32_t>(e < 0 ? -e : e);
  if (a >= 100) {
    *p++ = static_cast<char>('0' + a / 100);
    a %= 100;
  }
  put2(p, a);
  return p + 2;
}

char* special(char* p, bool nan) {
  std::memcpy(p, nan ? "nan" : "inf", 3);
  return p + 3;
}

// The IEEE 754 layout of F: the bits as an unsigned integer of its size, the stored
// significand bits, the all-ones exponent, and the bias that gives q of a normal value.
template <class F>
struct Ieee;
template <>
struct Ieee<double> {
  using Bits = std::uint64_t;
  static constexpr int kSignificand = 52, kExponentMax = 0x7ff, kBias = 1075;
};
template <>
struct Ieee<float> {
  using Bits = std::uint32_t;
  static constexpr int kSignificand = 23, kExponentMax = 0xff, kBias = 150;
};

// v as c * 2^q, then Schubfach and the digits; one instance for double, one for float.
template <class F>
inline char* format_ieee(F v, char* out) noexcept {
  using L = Ieee<F>;
  using Bits = typename L::Bits;
  constexpr bool kDouble = sizeof(F) == 8;
  auto bits = std::bit_cast<Bits>(v);
  if ((bits >> (8 * sizeof(F) - 1)) != 0) *out++ = '-';
  Bits m = bits & ((Bits{1} << L::kSignificand) - 1);
  auto be = static_cast<int>((bits >> L::kSignificand) & L::kExponentMax);
  if (be == L::kExponentMax) [[unlikely]]
    return special(out, m != 0);
  std::uint64_t c;
  int q;
  if (be != 0) {
    c = m | (Bits{1} << L::kSignificand);
    q = be - L::kBias;
  } else {
    if (m == 0) {
      *out = '0';
      return out + 1;
    }
    c = m;
    q = 1 - L::kBias;
  }
  bool irregular = m == 0 && be > 1;
  if constexpr (kDouble) {
    return emit<true>(out, to_decimal(c, q, irregular), c, q, be != 0);
  } else {
    return emit<false>(out, to_decimal_float(c, q, irregular), c, q, be != 0);
  }
}

}  // namespace

char* format_shortest(double v, char* out) noexcept {
  return format_ieee(v, out);
}

char* format_shortest(float v, char* out) noexcept {
  return format_ieee(v, out);
}

}  // namespace nexo::wire
