// Generator of shortest_table.hpp (test-only; not used by the library).
//
// Exact, slow big-integer arithmetic: wire_shortest_test recomputes every table entry
// and every floor-log approximation of shortest_table.hpp with it and compares; run it
// with NEXO_SHORTEST_WRITE_TABLE=<file> to write the table text anew.
//
// Entry e of a table of `bits`-bit entries (bits = 128 for double, 64 for float) is
//   g(e) = floor(10^e * 2^(bits - 1 - E)) + 1,   E = floor(log2(10^e)),
// so 2^(bits-1) < g(e) <= 2^bits (checked: never 2^bits), an upper approximation of
// 10^e scaled into [2^(bits-1), 2^bits) whose error is below one unit.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace nexo::wire::shortest_gen {

// Non-negative big integer, 32-bit limbs, little-endian, no leading zero limbs.
struct Big {
  std::vector<std::uint32_t> w;

  static Big of(std::uint64_t v) {
    Big b;
    while (v != 0) {
      b.w.push_back(static_cast<std::uint32_t>(v));
      v >>= 32;
    }
    return b;
  }
  void trim() {
    while (!w.empty() && w.back() == 0)
      w.pop_back();
  }
  void mul_small(std::uint32_t m) {
    std::uint64_t carry = 0;
    for (auto& x : w) {
      std::uint64_t t = static_cast<std::uint64_t>(x) * m + carry;
      x = static_cast<std::uint32_t>(t);
      carry = t >> 32;
    }
    if (carry != 0) w.push_back(static_cast<std::uint32_t>(carry));
    trim();
  }
  void shl(int n) {  // n >= 0
    if (w.empty()) return;
    std::vector<std::uint32_t> r(static_cast<std::size_t>(n / 32), 0);
    int s = n % 32;
    std::uint32_t carry = 0;
    for (auto x : w) {
      r.push_back(s == 0 ? x : (x << s) | carry);
      carry = s == 0 ? 0 : x >> (32 - s);
    }
    if (carry != 0) r.push_back(carry);
    w = std::move(r);
  }
  void shr(int n) {  // n >= 0
    std::size_t limbs = static_cast<std::size_t>(n / 32);
    int s = n % 32;
    if (limbs >= w.size()) {
      w.clear();
      return;
    }
    std::vector<std::uint32_t> r(w.begin() + static_cast<std::ptrdiff_t>(limbs), w.end());
    if (s != 0) {
      for (std::size_t i = 0; i < r.size(); ++i) {
        std::uint32_t hi = i + 1 < r.size() ? r[i + 1] : 0;
        r[i] = (r[i] >> s) | (hi << (32 - s));
      }
    }
    w = std::move(r);
    trim();
  }
  int bit_length() const {
    if (w.empty()) return 0;
    int b = 32 * static_cast<int>(w.size() - 1);
    for (std::uint32_t top = w.back(); top != 0; top >>= 1)
      ++b;
    return b;
  }
  bool bit(int i) const {
    std::size_t l = static_cast<std::size_t>(i / 32);
    return l < w.size() && ((w[l] >> (i % 32)) & 1) != 0;
  }
  // The low 64 bits.
  std::uint64_t low64(int at = 0) const {
    std::uint64_t r = 0;
    for (int i = 0; i < 64; ++i)
      if (bit(at + i)) r |= std::uint64_t{1} << i;
    return r;
  }
  friend int compare(const Big& a, const Big& b) {
    if (a.w.size() != b.w.size()) return a.w.size() < b.w.size() ? -1 : 1;
    for (std::size_t i = a.w.size(); i-- > 0;)
      if (a.w[i] != b.w[i]) return a.w[i] < b.w[i] ? -1 : 1;
    return 0;
  }
  void sub(const Big& b) {  // *this >= b
    std::int64_t borrow = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      std::int64_t t = static_cast<std::int64_t>(w[i]) - borrow -
                       static_cast<std::int64_t>(i < b.w.size() ? b.w[i] : 0);
      borrow = t < 0 ? 1 : 0;
      w[i] = static_cast<std::uint32_t>(t + (borrow << 32));
    }
    trim();
  }
};

// m * 10^p10 * 2^p2, exponents >= 0.
inline Big power(std::uint32_t m, int p10, int p2) {
  Big b = Big::of(m);
  for (int i = 0; i < p10; ++i)
    b.mul_small(10);
  b.shl(p2);
  return b;
}

// Compares m1 * 10^a10 * 2^a2 with m2 * 10^b10 * 2^b2 (any signs of the exponents).
inline int compare_mixed(std::uint32_t m1, int a10, int a2, std::uint32_t m2, int b10, int b2) {
  int s10 = std::max(0, std::max(-a10, -b10));
  int s2 = std::max(0, std::max(-a2, -b2));
  return compare(power(m1, a10 + s10, a2 + s2), power(m2, b10 + s10, b2 + s2));
}

// floor(log2(10^e)), exactly.
inline int floor_log2_pow10(int e) {
  if (e >= 0) return power(1, e, 0).bit_length() - 1;
  return -power(1, -e, 0).bit_length();  // 10^-e is never a power of two here
}

// floor(10^e * 2^(bits - 1 - E)) + 1 as (hi, lo) 64-bit halves (hi = 0 when bits = 64).
struct Entry {
  std::uint64_t hi = 0, lo = 0;
  bool overflow = false;  // the +1 reached 2^bits
};
inline Entry table_entry(int e, int bits) {
  int E = floor_log2_pow10(e);
  Big q;
  if (e >= 0) {
    q = power(1, e, 0);
    int s = bits - 1 - E;
    if (s >= 0)
      q.shl(s);
    else
      q.shr(-s);
  } else {
    // floor(2^n / 10^-e) by binary long division, n = bits - 1 - E.
    Big d = power(1, -e, 0);
    int n = bits - 1 - E;
    Big r;
    for (int i = n; i >= 0; --i) {
      r.shl(1);
      if (i == n) r = Big::of(1);
      q.shl(1);
      if (compare(r, d) >= 0) {
        r.sub(d);
        if (q.w.empty())
          q = Big::of(1);
        else
          q.w[0] |= 1;
      }
    }
  }
  // + 1
  std::size_t i = 0;
  std::uint64_t carry = 1;
  for (; i < q.w.size() && carry != 0; ++i) {
    std::uint64_t t = std::uint64_t{q.w[i]} + carry;
    q.w[i] = static_cast<std::uint32_t>(t);
    carry = t >> 32;
  }
  if (carry != 0) q.w.push_back(static_cast<std::uint32_t>(carry));
  Entry r;
  r.overflow = q.bit_length() > bits;
  r.lo = q.low64(0);
  r.hi = bits > 64 ? q.low64(64) : 0;
  return r;
}

// The text of shortest_table.hpp.
inline std::string table_text(int dmin, int dmax, int fmin, int fmax) {
  std::string s;
  char line[128];
  s += "// Generated by wire_shortest_test (NEXO_SHORTEST_WRITE_TABLE=<file>, then clang-format)\n";
  s += "// from shortest_table_gen.hpp; the test recomputes every entry. Do not edit.\n";
  s += "//\n";
  s += "// kPow10Double[e - kPow10DoubleMin] = floor(10^e * 2^(127 - floor(log2 10^e))) + 1,\n";
  s += "// kPow10Float[e - kPow10FloatMin] = floor(10^e * 2^(63 - floor(log2 10^e))) + 1.\n";
  s += "#pragma once\n\n#include <cstdint>\n\nnamespace nexo::wire::shortest_detail {\n\n";
  s += "struct U128 {\n  std::uint64_t hi, lo;\n};\n\n";
  std::snprintf(line, sizeof line, "inline constexpr int kPow10DoubleMin = %d;\n", dmin);
  s += line;
  std::snprintf(line, sizeof line, "inline constexpr int kPow10DoubleMax = %d;\n", dmax);
  s += line;
  s += "inline constexpr U128 kPow10Double[kPow10DoubleMax - kPow10DoubleMin + 1] = {\n";
  for (int e = dmin; e <= dmax; ++e) {
    Entry t = table_entry(e, 128);
    std::snprintf(line, sizeof line, "    {0x%016llx, 0x%016llx},  // 10^%d\n",
                  static_cast<unsigned long long>(t.hi), static_cast<unsigned long long>(t.lo), e);
    s += line;
  }
  s += "};\n\n";
  std::snprintf(line, sizeof line, "inline constexpr int kPow10FloatMin = %d;\n", fmin);
  s += line;
  std::snprintf(line, sizeof line, "inline constexpr int kPow10FloatMax = %d;\n", fmax);
  s += line;
  s += "inline constexpr std::uint64_t kPow10Float[kPow10FloatMax - kPow10FloatMin + 1] = {\n";
  for (int e = fmin; e <= fmax; ++e) {
    Entry t = table_entry(e, 64);
    std::snprintf(line, sizeof line, "    0x%016llx,  // 10^%d\n",
                  static_cast<unsigned long long>(t.lo), e);
    s += line;
  }
  s += "};\n\n}  // namespace nexo::wire::shortest_detail\n";
  return s;
}

}  // namespace nexo::wire::shortest_gen
