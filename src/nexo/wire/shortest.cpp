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

// Exactly 8 digits of x < 10^8.
inline void put8(char* p, std::uint32_t x) {
  std::uint32_t hi = x / 10000, lo = x % 10000;
  put2(p, hi / 100);
  put2(p + 2, hi % 100);
  put2(p + 4, lo / 100);
  put2(p + 6, lo % 100);
}

// The n >= 1 digits of d < 10^n, n <= 17, at p.
inline void put_digits(char* p, std::uint64_t d, int n) {
  char* e = p + n;
  if (n > 8) {
    std::uint64_t hi = d / 100000000;
    put8(e - 8, static_cast<std::uint32_t>(d - hi * 100000000));
    e -= 8;
    d = hi;
  }
  auto x = static_cast<std::uint32_t>(d);
  while (x >= 100) {
    std::uint32_t q = x / 100;
    e -= 2;
    put2(e, x - q * 100);
    x = q;
  }
  if (x >= 10)
    put2(e - 2, x);
  else
    e[-1] = static_cast<char>('0' + x);
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

// Decimal digits of d >= 1.
inline int count_digits(std::uint64_t d) {
  int t = (64 - std::countl_zero(d)) * 1233 >> 12;
  return t + (d >= kPow10[t] ? 1 : 0);
}

struct Decimal {
  std::uint64_t d;  // v's shortest digits, d * 10^k
  int k;
};

// Drops d's trailing zeros (d != 0).
inline void strip_zeros(Decimal& r) {
  while (r.d % 10 == 0) {
    r.d /= 10;
    ++r.k;
  }
}

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
  std::uint64_t s = vb >> 2;
  std::uint64_t sp = s / 10;  // the multiples of ten around: 10 sp, 10 sp + 10
  bool upin = vbl + out <= 40 * sp;
  bool wpin = 40 * sp + 40 + out <= vbr;
  if (upin != wpin) {
    Decimal r{sp + (wpin ? 1 : 0), k + 1};
    strip_zeros(r);
    return r;
  }
  std::uint64_t t = s + 1;
  bool uin = vbl + out <= 4 * s;
  bool win = 4 * t + out <= vbr;
  if (uin != win) return {uin ? s : t, k};
  std::uint64_t mid = 4 * s + 2;
  bool low = vb < mid || (vb == mid && (s & 1) == 0);
  return {low ? s : t, k};
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
template <bool Double>
char* emit(char* p, Decimal r, std::uint64_t c, int q) {
  int n = count_digits(r.d);
  int e = r.k + n - 1;  // scientific exponent
  int sci = n + (n > 1 ? 1 : 0) + (e >= 100 || e <= -100 ? 5 : 4);
  if (e >= 0) {
    if (r.k >= 0) {
      if (e + 1 <= sci) {  // an integer: e + 1 digits
        if (q <= 0) {
          put_digits(p, r.d, n);
          std::memset(p + n, '0', static_cast<std::size_t>(r.k));
        } else if constexpr (Double) {
          // v < 10^22 < 2^74 here; its exact digits (>= 16 of them, v >= 2^53).
          u128 x = static_cast<u128>(c) << q;
          auto hi = static_cast<std::uint64_t>(x / 10000000000000000u);
          auto lo = static_cast<std::uint64_t>(x % 10000000000000000u);
          int hn = e + 1 - 16;
          if (hn > 0) put_digits(p, hi, hn);
          put8(p + hn, static_cast<std::uint32_t>(lo / 100000000));
          put8(p + hn + 8, static_cast<std::uint32_t>(lo % 100000000));
        } else {
          put_digits(p, c << q, e + 1);  // v < 10^14 here
        }
        return p + e + 1;
      }
    } else {  // digits on both sides of the point: n + 1 <= sci always
      put_digits(p + 1, r.d, n);
      std::memmove(p, p + 1, static_cast<std::size_t>(e + 1));
      p[e + 1] = '.';
      return p + n + 1;
    }
  } else if (n + 1 - e <= sci) {  // 0.000ddd
    p[0] = '0';
    p[1] = '.';
    std::memset(p + 2, '0', static_cast<std::size_t>(-e - 1));
    put_digits(p + 1 - e, r.d, n);
    return p + n + 1 - e;
  }
  put_digits(p + 1, r.d, n);
  p[0] = p[1];
  if (n > 1) {
    p[1] = '.';
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

}  // namespace

char* format_shortest(double v, char* out) noexcept {
  auto bits = std::bit_cast<std::uint64_t>(v);
  if ((bits >> 63) != 0) *out++ = '-';
  std::uint64_t m = bits & ((std::uint64_t{1} << 52) - 1);
  auto be = static_cast<int>((bits >> 52) & 0x7ff);
  if (be == 0x7ff) [[unlikely]]
    return special(out, m != 0);
  std::uint64_t c;
  int q;
  if (be != 0) {
    c = m | (std::uint64_t{1} << 52);
    q = be - 1075;
  } else {
    if (m == 0) {
      *out = '0';
      return out + 1;
    }
    c = m;
    q = -1074;
  }
  return emit<true>(out, to_decimal(c, q, m == 0 && be > 1), c, q);
}

char* format_shortest(float v, char* out) noexcept {
  auto bits = std::bit_cast<std::uint32_t>(v);
  if ((bits >> 31) != 0) *out++ = '-';
  std::uint32_t m = bits & ((std::uint32_t{1} << 23) - 1);
  auto be = static_cast<int>((bits >> 23) & 0xff);
  if (be == 0xff) [[unlikely]]
    return special(out, m != 0);
  std::uint64_t c;
  int q;
  if (be != 0) {
    c = m | (std::uint32_t{1} << 23);
    q = be - 150;
  } else {
    if (m == 0) {
      *out = '0';
      return out + 1;
    }
    c = m;
    q = -149;
  }
  return emit<false>(out, to_decimal_float(c, q, m == 0 && be > 1), c, q);
}

}  // namespace nexo::wire
