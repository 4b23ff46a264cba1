// The JSON reader (see json.hpp for what it accepts): a cursor over the text with the
// scanners every value needs, and the templates that read each kind of value. The hot
// paths are inline; escapes, errors and skipping are in json.cpp.
#pragma once

#include <array>
#include <bitset>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "nexo/wire/buffer.hpp"
#include "nexo/wire/decode.hpp"
#include "nexo/wire/describe.hpp"
#include "nexo/wire/json_writer.hpp"

namespace nexo::wire::json::detail {

// The extent of a number that follows the RFC grammar.
struct NumberText {
  const unsigned char* begin;
  const unsigned char* end;
  bool negative;
  bool integral;  // no fraction, no exponent
};

class Reader {
 public:
  // proto3: read protobuf's canonical JSON mapping (json.hpp) rather than nexo's.
  Reader(std::span<const std::byte> bytes, const Limits& limits, bool proto3 = false) noexcept
      : begin_(reinterpret_cast<const unsigned char*>(bytes.data())),
        p_(begin_),
        end_(begin_ + bytes.size()),
        st_(bytes, limits),
        proto3_(proto3) {}

  bool proto3() const noexcept { return proto3_; }

  DecodeState& state() noexcept { return st_; }
  const Limits& limits() const noexcept { return st_.limits; }
  std::size_t offset() const noexcept { return static_cast<std::size_t>(p_ - begin_); }
  std::size_t offset(const unsigned char* at) const noexcept {
    return static_cast<std::size_t>(at - begin_);
  }

  bool fail(std::string reason) { return st_.fail_at(offset(), std::move(reason)); }
  bool fail_at(const unsigned char* at, std::string reason) {
    return st_.fail_at(offset(at), std::move(reason));
  }
  bool fail_limit(std::string_view what, std::string_view name, std::size_t value) {
    st_.in.seek(offset());
    return st_.fail_limit(what, name, value);
  }

  void skip_ws() noexcept {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t'))
      ++p_;
  }
  // Skips whitespace and looks at the next byte; at the end: a truncation error.
  bool peek(unsigned char& c, std::string_view label) {
    skip_ws();
    if (p_ == end_) [[unlikely]]
      return truncated(label);
    c = *p_;
    return true;
  }
  // Consumes c if it is next (after whitespace).
  bool next_is(char c) noexcept {
    skip_ws();
    if (p_ != end_ && *p_ == static_cast<unsigned char>(c)) {
      ++p_;
      return true;
    }
    return false;
  }
  bool at_end() noexcept {
    skip_ws();
    return p_ == end_;
  }

  // Enters an object or array (checked against max_depth); pair with leave().
  bool enter() {
    if (++st_.depth > st_.limits.max_depth) [[unlikely]]
      return fail_limit("nesting", "max_depth", st_.limits.max_depth);
    return true;
  }
  void leave() noexcept { --st_.depth; }

  // After a member or element: ',' (true, more follows) or the closer (more false).
  bool separator(char closer, bool& more, std::string_view label) {
    skip_ws();
    if (p_ != end_) [[likely]] {
      if (*p_ == ',') {
        ++p_;
        more = true;
        return true;
      }
      if (*p_ == static_cast<unsigned char>(closer)) {
        ++p_;
        more = false;
        return true;
      }
    }
    return bad_separator(closer, label);
  }

  // A string at p_ (the opening quote) into out; `charged`: its bytes count against
  // max_decoded (a value's string, not a key or base64 text read into scratch).
  bool string(std::string& out, std::string_view label, bool charged = true) {
    const unsigned char* s = p_ + 1;
    const unsigned char* q = s;
    std::uint64_t high = 0;
    for (;;) {
      if (end_ - q >= 8) {
        std::uint64_t w;
        std::memcpy(&w, q, 8);
        std::uint64_t m = special_mask(w);
        if (m != 0) {
          std::size_t k = static_cast<std::size_t>(__builtin_ctzll(m)) / 8;
          high |= w & ((std::uint64_t{1} << (8 * k)) - 1);
          q += k;
          break;
        }
        high |= w;
        q += 8;
      } else {
        while (q != end_ && *q != '"' && *q != '\\' && *q >= 0x20)
          high |= *q++;
        break;
      }
    }
    if (q == end_ || *q != '"') [[unlikely]]
      return string_slow(out, label, q, charged);
    std::size_t n = static_cast<std::size_t>(q - s);
    if (n > st_.limits.max_string) [[unlikely]]
      return string_too_long(n, label);
    if (charged && !st_.charge(n, 1, label, offset(p_))) [[unlikely]]
      return false;
    if ((high & 0x8080808080808080ull) != 0) {
      std::size_t bad = utf8_invalid_at({reinterpret_cast<const char*>(s), n});
      if (bad != n) [[unlikely]]
        return bad_utf8(s + bad, label);
    }
    out.assign(reinterpret_cast<const char*>(s), n);
    p_ = q + 1;
    return true;
  }

  // A number at p_ that follows the grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  bool number(NumberText& n, std::string_view label) {
    const unsigned char* q = p_;
    n.begin = q;
    n.negative = q != end_ && *q == '-';
    q += n.negative;
    if (q == end_ || !digit(*q)) [[unlikely]]
      return bad_number(q, label);
    if (*q == '0') {
      ++q;
      if (q != end_ && digit(*q)) [[unlikely]]
        return bad_number(q, label);
    } else {
      while (++q != end_ && digit(*q)) {
      }
    }
    n.integral = true;
    if (q != end_ && *q == '.') {
      n.integral = false;
      if (++q == end_ || !digit(*q)) [[unlikely]]
        return bad_number(q, label);
      while (++q != end_ && digit(*q)) {
      }
    }
    if (q != end_ && (*q | 0x20) == 'e') {
      n.integral = false;
      if (++q != end_ && (*q == '+' || *q == '-')) ++q;
      if (q == end_ || !digit(*q)) [[unlikely]]
        return bad_number(q, label);
      while (++q != end_ && digit(*q)) {
      }
    }
    n.end = q;
    p_ = q;
    return true;
  }

  // An integer value into v, exact, range-checked.
  template <class I>
  bool integer(I& v, std::string_view label) {
    unsigned char c = 0;
    if (!peek(c, label)) return false;
    if (c != '-' && !digit(c)) [[unlikely]] {
      if (c == '"') return quoted(v, label);
      return wrong_type(label, "an integer");
    }
    NumberText n;
    if (!number(n, label)) return false;
    std::uint64_t magnitude = 0;
    const unsigned char* d = n.begin + n.negative;
    if (n.integral && n.end - d <= 19) [[likely]] {
      for (; d != n.end; ++d)
        magnitude = magnitude * 10 + (*d - '0');
    } else if (!exact_integer(n, magnitude, label)) {
      return false;
    }
    if constexpr (std::is_signed_v<I>) {
      using U = std::make_unsigned_t<I>;
      constexpr std::uint64_t max = static_cast<U>(std::numeric_limits<I>::max());
      if (magnitude > max + n.negative) [[unlikely]]
        return out_of_range(n, label, type_name<I>());
      v = static_cast<I>(n.negative ? static_cast<U>(0u - static_cast<U>(magnitude))
                                    : static_cast<U>(magnitude));
    } else {
      if (magnitude > std::numeric_limits<I>::max() || (n.negative && magnitude != 0)) [[unlikely]]
        return out_of_range(n, label, type_name<I>());
      v = static_cast<I>(magnitude);
    }
    return true;
  }

  // A float or double: a number, or "NaN", "Infinity", "-Infinity".
  template <class F>
  bool real(F& v, std::string_view label) {
    unsigned char c = 0;
    if (!peek(c, label)) return false;
    if (c == '"') return quoted(v, label);
    if (c != '-' && !digit(c)) [[unlikely]]
      return wrong_type(label, "a number");
    if (exact_short(v)) return true;
    NumberText n;
    if (!number(n, label)) return false;
    auto r = std::from_chars(reinterpret_cast<const char*>(n.begin),
                             reinterpret_cast<const char*>(n.end), v);
    if (r.ec != std::errc{}) [[unlikely]]
      return out_of_range_real(n, v, label);
    return true;
  }

  // Clinger's fast path: a plain decimal -?d+(.d+)? whose digits fit the significand
  // (m <= 2^53 for a double, 2^24 for a float) and whose fraction has at most 22 (10)
  // digits is m / 10^k, one correctly rounded division of two exact values. Other plain
  // decimals go to from_chars from here. Returns false, consuming nothing, for a number
  // with an exponent, one out of range, and anything not a number (the full path).
  template <class F>
  bool exact_short(F& v) noexcept {
    constexpr int kMaxFraction = sizeof(F) == 8 ? 22 : 10;
    constexpr std::uint64_t kMaxSignificand = std::uint64_t{1} << std::numeric_limits<F>::digits;
    const unsigned char* q = p_;
    bool negative = *q == '-';
    q += negative;
    std::uint64_t m = 0;
    const unsigned char* first = q;
    if (q != end_ && *q == '0') {
      ++q;
    } else {
      q = digits_into(q, m);
    }
    if (q == first || (q != end_ && digit(*q))) return false;
    int digits = static_cast<int>(q - first);
    int fraction = 0;
    if (q != end_ && *q == '.') {
      const unsigned char* f = ++q;
      q = digits_into(q, m);
      fraction = static_cast<int>(q - f);
      digits += fraction;
      if (fraction == 0) return false;
    }
    if (q != end_ && (*q | 0x20) == 'e') return false;
    if (digits > 19 || fraction > kMaxFraction || m > kMaxSignificand) {
      // A plain decimal beyond the fast path: from_chars, without scanning it again.
      auto r =
          std::from_chars(reinterpret_cast<const char*>(p_), reinterpret_cast<const char*>(q), v);
      if (r.ec != std::errc{}) return false;  // out of range: the full path reports it
      p_ = q;
      return true;
    }
    static constexpr F kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    F r = static_cast<F>(m) / kPow10[fraction];
    v = negative ? -r : r;
    p_ = q;
    return true;
  }

  // A number written as a JSON string at p_ (its opening quote), as protobuf writes a
  // 64-bit integer ("-12") and may write any number: the string's content is read as the
  // number itself would be, and must be nothing else. For a float or double, the strings
  // "NaN", "Infinity" and "-Infinity" too.
  template <class N>
  bool quoted(N& v, std::string_view label) {
    const unsigned char* q = p_ + 1;
    bool numeric = q != end_ && (digit(*q) || (*q == '-' && end_ - q > 1 && digit(q[1])));
    if (!numeric) {
      if constexpr (std::is_floating_point_v<N>) return non_finite(v, label);
      return wrong_type(label, "an integer");
    }
    const unsigned char* close = q;
    while (close != end_ && *close != '"')
      ++close;
    const unsigned char* outer = end_;
    end_ = close;
    p_ = q;
    bool ok;
    if constexpr (std::is_floating_point_v<N>)
      ok = real(v, label);
    else
      ok = integer(v, label);
    end_ = outer;
    if (!ok) return false;
    if (p_ != close || close == end_) return bad_quoted_number(q, label);
    p_ = close + 1;
    return true;
  }

  bool boolean(bool& v, std::string_view label);
  bool null();  // consumes null if it is next
  bool blob(ByteBuffer& v, std::string_view label);
  // Skips one value of any kind, checking it.
  bool skip_value(std::string_view label);

  // The key at p_ (the opening quote): in place when it has no escapes (key() points into
  // the input), else unescaped into scratch.
  bool key(std::string_view& k, std::string_view label) {
    const unsigned char* s = p_ + 1;
    const unsigned char* q = s;
    while (q != end_ && *q != '"' && *q != '\\' && *q >= 0x20 && *q < 0x80)
      ++q;
    if (q != end_ && *q == '"') [[likely]] {
      k = {reinterpret_cast<const char*>(s), static_cast<std::size_t>(q - s)};
      p_ = q + 1;
      return true;
    }
    if (!string(scratch_, label, false)) return false;
    k = scratch_;
    return true;
  }
  // Tries to consume the key "name" (p_ at its opening quote) followed by '"'.
  bool key_is(std::string_view name) noexcept {
    if (static_cast<std::size_t>(end_ - p_) < name.size() + 2) return false;
    if (std::memcmp(p_ + 1, name.data(), name.size()) != 0 || p_[name.size() + 1] != '"')
      return false;
    p_ += name.size() + 2;
    return true;
  }
  bool colon(std::string_view label) {
    skip_ws();
    if (p_ != end_ && *p_ == ':') [[likely]] {
      ++p_;
      return true;
    }
    return expected("':' after the key", label);
  }
  bool expect_open(char c, std::string_view label) {
    unsigned char n = 0;
    if (!peek(n, label)) return false;
    if (n != static_cast<unsigned char>(c)) [[unlikely]]
      return wrong_type(label, c == '{' ? "an object" : "an array");
    ++p_;
    return true;
  }
  const unsigned char* pos() const noexcept { return p_; }
  // True when the string at p_ (its opening quote) starts like a number.
  bool quoted_number_next() const noexcept {
    const unsigned char* q = p_ + 1;
    return q != end_ && (digit(*q) || *q == '-');
  }

  bool wrong_type(std::string_view label, std::string_view expected);
  bool expected(std::string_view what, std::string_view label);
  bool duplicate_key(const unsigned char* at, std::string_view key, std::string_view label);
  bool trailing();

 private:
  // Reads the run of digits at q into m (m = m * 10 + digit, wrapping; callers bound
  // the digit count), eight at a time where it can; returns where the run ends.
  const unsigned char* digits_into(const unsigned char* q, std::uint64_t& m) const noexcept {
    while (end_ - q >= 8) {
      std::uint64_t w;
      std::memcpy(&w, q, 8);
      // All eight are '0'...'9': each byte's high nibble is 3, and adding 6 keeps it 3.
      if (((w & 0xf0f0f0f0f0f0f0f0ull) |
           (((w + 0x0606060606060606ull) & 0xf0f0f0f0f0f0f0f0ull) >> 4)) != 0x3333333333333333ull)
        break;
      w = ((w & 0x0f0f0f0f0f0f0f0full) * 2561) >> 8;             // pairs: 10a + b
      w = ((w & 0x00ff00ff00ff00ffull) * 6553601) >> 16;         // quads: 100ab + cd
      w = ((w & 0x0000ffff0000ffffull) * 42949672960001) >> 32;  // 10000abcd + efgh
      m = m * 100000000 + w;
      q += 8;
    }
    while (q != end_ && digit(*q))
      m = m * 10 + (*q++ - '0');
    return q;
  }
  static bool digit(unsigned char c) noexcept { return static_cast<unsigned>(c - '0') < 10u; }
  // High bit set in each byte of w that is '"', '\' or below 0x20 (exact for the first).
  static std::uint64_t special_mask(std::uint64_t w) noexcept {
    constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    std::uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
  }
  template <class I>
  static constexpr std::string_view type_name() {
    if constexpr (std::is_same_v<I, bool>) return "bool";
    if constexpr (std::is_signed_v<I>) {
      if constexpr (sizeof(I) == 1) return "int8";
      if constexpr (sizeof(I) == 2) return "int16";
      if constexpr (sizeof(I) == 4) return "int32";
      if constexpr (sizeof(I) == 8) return "int64";
    } else {
      if constexpr (sizeof(I) == 1) return "uint8";
      if constexpr (sizeof(I) == 2) return "uint16";
      if constexpr (sizeof(I) == 4) return "uint32";
      if constexpr (sizeof(I) == 8) return "uint64";
    }
    return "integer";
  }

  std::string found() const;
  bool truncated(std::string_view label);
  bool bad_separator(char closer, std::string_view label);
  bool string_slow(std::string& out, std::string_view label, const unsigned char* q,
                   bool charged);
  bool string_too_long(std::size_t n, std::string_view label);
  bool bad_utf8(const unsigned char* at, std::string_view label);
  bool bad_number(const unsigned char* at, std::string_view label);
  bool bad_quoted_number(const unsigned char* at, std::string_view label);
  bool exact_integer(const NumberText& n, std::uint64_t& magnitude, std::string_view label);
  bool out_of_range(const NumberText& n, std::string_view label, std::string_view type);
  bool out_of_range_real(const NumberText& n, double& v, std::string_view label);
  bool out_of_range_real(const NumberText& n, float& v, std::string_view label);
  bool non_finite(double& v, std::string_view label);
  bool non_finite(float& v, std::string_view label);
  bool escape(std::string& out, std::string_view label);
  bool skip_container(char closer, std::string_view label);

  const unsigned char* begin_;
  const unsigned char* p_;
  const unsigned char* end_;
  DecodeState st_;
  std::string scratch_;
  bool proto3_ = false;
};

// The value of a field in a default-constructed T (what a missing key gives).
template <class T>
const T& defaults() {
  static const T value{};
  return value;
}

template <class T>
bool read(Reader& r, T& v, std::string_view label);

template <class V>
bool read_sequence(Reader& r, V& v, std::string_view label) {
  using E = typename V::value_type;
  if (!r.expect_open('[', label) || !r.enter()) return false;
  std::size_t n = 0;
  bool more = !r.next_is(']');
  const std::size_t max = r.limits().max_elements;
  while (more) {
    if constexpr (Array<V>) {
      if (n == v.size()) [[unlikely]]
        return r.expected("']': " + std::to_string(v.size()) + " elements", label);
      if (!read(r, v[n], label)) return false;
    } else {
      if (n == max) [[unlikely]]
        return r.fail_limit(std::string(label) + " element count", "max_elements", max);
      if (!r.state().charge(1, sizeof(E), label, r.offset())) [[unlikely]]
        return false;
      if constexpr (std::is_same_v<E, bool>) {
        bool b;
        if (!read(r, b, label)) return false;
        if (n < v.size()) {
          v[n] = b;
        } else {
          v.push_back(b);
        }
      } else {
        if (n == v.size()) v.emplace_back();
        if (!read(r, v[n], label)) return false;
      }
    }
    ++n;
    if (!r.separator(']', more, label)) return false;
  }
  if constexpr (Array<V>) {
    if (n != v.size()) [[unlikely]]
      return r.fail_at(r.pos() - 1, std::string(label) + ": expected " + std::to_string(v.size()) +
                                        " elements, found " + std::to_string(n));
  } else {
    v.resize(n);
  }
  r.leave();
  return true;
}

template <class K>
bool parse_key(Reader& r, std::string_view text, K& key, const unsigned char* at,
               std::string_view label) {
  if constexpr (String<K>) {
    key.assign(text);
    return true;
  } else {
    // A decimal integer, as written: -?(0|[1-9][0-9]*), in range.
    const char* b = text.data();
    const char* e = b + text.size();
    bool canonical = !text.empty() && text != "-" && !(text[0] == '0' && text.size() > 1) &&
                     !(text.size() > 2 && text[0] == '-' && text[1] == '0') && text[0] != '+';
    auto res = std::from_chars(b, e, key);
    if (!canonical || res.ptr != e || res.ec != std::errc{})
      return r.fail_at(at, std::string(label) + ": map key \"" + std::string(text.substr(0, 40)) +
                               "\" is not an integer of the key's type");
    return true;
  }
}

template <class M>
bool read_map(Reader& r, M& v, std::string_view label) {
  if (!r.expect_open('{', label) || !r.enter()) return false;
  v.clear();
  bool more = !r.next_is('}');
  while (more) {
    unsigned char c = 0;
    if (!r.peek(c, label)) return false;
    if (c != '"') return r.expected("a key string", label);
    const unsigned char* at = r.pos();
    std::string_view text;
    if (!r.key(text, label)) return false;
    typename M::key_type key{};
    if (!parse_key(r, text, key, at, label)) return false;
    if (v.size() == r.limits().max_elements) [[unlikely]]
      return r.fail_limit(std::string(label) + " element count", "max_elements",
                          r.limits().max_elements);
    std::size_t key_bytes = 0;
    if constexpr (String<typename M::key_type>) key_bytes = key.size();
    if (!r.state().charge(1, sizeof(typename M::value_type) + kMapNodeOverhead + key_bytes, label,
                          r.offset(at)))
      return false;
    auto [it, inserted] = v.try_emplace(std::move(key));
    if (!inserted) return r.duplicate_key(at, text, label);
    if (!r.colon(label) || !read(r, it->second, label) || !r.separator('}', more, label))
      return false;
  }
  r.leave();
  return true;
}

// Matches the key at the reader's position against T's field names, trying field
// `guess` first (keys usually come in declaration order). Returns the field index, or
// field_count<T> for an unknown key (consumed), or -1 on error.
template <class T>
inline constexpr auto field_names = [] {
  std::array<std::string_view, field_count<T>> a{};
  for_each_field<T>([&](auto i) { a[decltype(i)::value] = field_of<T, decltype(i)::value>.name; });
  return a;
}();

template <class T>
int match_field(Reader& r, std::size_t guess, std::string_view label) {
  constexpr std::size_t N = field_count<T>;
  constexpr const auto& names = field_names<T>;
  for (std::size_t k = 0; k < N; ++k) {
    std::size_t i = guess + k < N ? guess + k : guess + k - N;
    if (r.key_is(names[i])) return static_cast<int>(i);
  }
  // Not a plain match: an escaped or unknown key.
  std::string_view text;
  if (!r.key(text, label)) return -1;
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == text) return static_cast<int>(i);
  return static_cast<int>(N);
}

// The proto3 JSON names of T's fields (json_writer.hpp): a reader of that mapping
// accepts them and the fields' own names.
template <class T>
inline constexpr auto json_field_names = [] {
  std::array<std::string_view, field_count<T>> a{};
  for_each_field<T>([&](auto i) { a[decltype(i)::value] = JsonName<T, decltype(i)::value>::name; });
  return a;
}();

template <class T>
int match_field_proto3(Reader& r, std::string_view label) {
  std::string_view text;
  if (!r.key(text, label)) return -1;
  for (std::size_t i = 0; i < field_count<T>; ++i)
    if (json_field_names<T>[i] == text || field_names<T>[i] == text) return static_cast<int>(i);
  return static_cast<int>(field_count<T>);
}

template <class T>
bool read_object(Reader& r, T& v, std::string_view label) {
  constexpr std::size_t N = field_count<T>;
  if (!r.expect_open('{', label) || !r.enter()) return false;
  std::bitset<N == 0 ? 1 : N> seen;
  std::size_t guess = 0;
  bool more = !r.next_is('}');
  while (more) {
    unsigned char c = 0;
    if (!r.peek(c, label)) return false;
    if (c != '"') [[unlikely]]
      return r.expected("a key string", label);
    const unsigned char* at = r.pos();
    int index = r.proto3() ? match_field_proto3<T>(r, label) : match_field<T>(r, guess, label);
    if (index < 0 || !r.colon(label)) return false;
    if (static_cast<std::size_t>(index) == N) {
      if (!r.skip_value(label)) return false;
    } else {
      auto i = static_cast<std::size_t>(index);
      if (seen[i]) [[unlikely]]
        return r.duplicate_key(at, field_names<T>[i], label);
      seen[i] = true;
      guess = i + 1 == N ? 0 : i + 1;
      bool ok = all_fields<T>([&](auto f) {
        if (decltype(f)::value != i) return true;
        constexpr auto field = field_of<T, decltype(f)::value>;
        if (r.proto3() && r.null()) {  // proto3: null is the field's default
          field.get(v) = field.get(defaults<T>());
          return true;
        }
        return read(r, field.get(v), field.name);
      });
      if (!ok) return false;
    }
    if (!r.separator('}', more, label)) return false;
  }
  if (seen.count() != N) {
    for_each_field<T>([&](auto f) {
      constexpr auto field = field_of<T, decltype(f)::value>;
      if (!seen[decltype(f)::value]) field.get(v) = field.get(defaults<T>());
    });
  }
  r.leave();
  return true;
}

// An enum value given by name (p_ at the opening quote).
template <class E>
bool read_enum_name(Reader& r, E& v, std::string_view label) {
  const unsigned char* at = r.pos();
  std::string_view text;
  if (!r.key(text, label)) return false;
  if (enum_value(text, v)) return true;
  return r.fail_at(at, std::string(label) + ": \"" + std::string(text.substr(0, 40)) +
                           "\" is not a name of the enum");
}

template <class T>
bool read(Reader& r, T& v, std::string_view label) {
  static_assert(is_wire_type<T>(), "json: this type cannot be marshalled");
  if constexpr (std::is_same_v<T, bool>) {
    return r.boolean(v, label);
  } else if constexpr (Enum<T>) {
    if constexpr (NamedEnum<T>) {
      unsigned char c = 0;
      if (!r.peek(c, label)) return false;
      if (c == '"' && !r.quoted_number_next()) return read_enum_name(r, v, label);
    }
    carried_t<T> n;
    if (!r.integer(n, label)) return false;
    v = static_cast<T>(n);
    return true;
  } else if constexpr (Integer<T>) {
    return r.integer(v, label);
  } else if constexpr (std::is_floating_point_v<T>) {
    return r.real(v, label);
  } else if constexpr (String<T>) {
    unsigned char c = 0;
    if (!r.peek(c, label)) return false;
    if (c != '"') [[unlikely]]
      return r.wrong_type(label, "a string");
    return r.string(v, label);
  } else if constexpr (Blob<T>) {
    return r.blob(v, label);
  } else if constexpr (Vector<T> || Array<T>) {
    return read_sequence(r, v, label);
  } else if constexpr (Optional<T>) {
    if (r.null()) {
      v.reset();
      return true;
    }
    if (!v) v.emplace();
    return read(r, *v, label);
  } else if constexpr (Map<T>) {
    return read_map(r, v, label);
  } else {
    static_assert(Described<T>, "json: shared_ptr/weak_ptr fields are Java-only");
    return read_object(r, v, label);
  }
}

}  // namespace nexo::wire::json::detail
