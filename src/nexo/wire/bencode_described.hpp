// Described types to and from bencode (the mapping is at the top of bencode.hpp).
// Included by bencode.hpp; include that.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "nexo/base/result.hpp"
#include "nexo/wire/bencode_reader.hpp"
#include "nexo/wire/buffer.hpp"
#include "nexo/wire/decode.hpp"
#include "nexo/wire/describe.hpp"

namespace nexo::wire::bencode {

// Whether bencode carries T: no float or double anywhere in it, std::optional only as a
// struct field, no shared_ptr/weak_ptr. Nested described types are checked `depth` deep
// (a recursive type is followed that far).
template <class T, int depth = 16>
constexpr bool supports();

namespace detail {
// Whether bencode carries field I of the described type T (supports()' per-field
// step). A function, not a lambda inside supports()' fold expression: clang 14
// crashes on that lambda (Sema::collectUnexpandedParameterPacks).
template <class T, std::size_t I, int depth>
constexpr bool supports_field() {
  using M = typename decltype(field_of<T, I>)::value_type;
  if constexpr (Optional<M>) {
    return !Optional<typename M::value_type> && supports<typename M::value_type, depth - 1>();
  } else {
    return supports<M, depth - 1>();
  }
}

template <class T, int depth, std::size_t... I>
constexpr bool supports_fields(std::index_sequence<I...>) {
  return (supports_field<T, I, depth>() && ...);
}
}  // namespace detail

template <class T, int depth>
constexpr bool supports() {
  if constexpr (std::is_floating_point_v<T>) {
    return false;
  } else if constexpr (Scalar<T> || String<T> || Blob<T> || std::is_same_v<T, Value>) {
    return true;
  } else if constexpr (Vector<T> || Array<T>) {
    return !Optional<typename T::value_type> && supports<typename T::value_type, depth>();
  } else if constexpr (Map<T>) {
    return !Optional<typename T::mapped_type> && supports<typename T::mapped_type, depth>();
  } else if constexpr (Described<T>) {
    if constexpr (depth == 0) {
      return true;
    } else {
      return detail::supports_fields<T, depth>(std::make_index_sequence<field_count<T>>{});
    }
  } else {
    return false;
  }
}

namespace detail {

// The field indices of T in byte order of their names (a dictionary's key order).
template <Described T>
constexpr auto sorted_fields() {
  constexpr std::size_t n = field_count<T>;
  std::array<std::string_view, n> names{};
  for_each_field<T>([&](auto i) { names[i] = field_of<T, decltype(i)::value>.name; });
  std::array<std::size_t, n> order{};
  for (std::size_t k = 0; k < n; ++k)
    order[k] = k;
  for (std::size_t k = 1; k < n; ++k)  // insertion sort: a handful of fields
    for (std::size_t j = k; j > 0 && names[order[j]] < names[order[j - 1]]; --j)
      std::swap(order[j], order[j - 1]);
  return order;
}
template <Described T>
inline constexpr auto kSortedFields = sorted_fields<T>();

// True when no two fields of T share a name (they would be one key twice).
template <Described T>
constexpr bool names_unique() {
  std::array<std::string_view, field_count<T>> names{};
  for_each_field<T>([&](auto i) { names[i] = field_of<T, decltype(i)::value>.name; });
  for (std::size_t k = 1; k < names.size(); ++k)
    if (names[kSortedFields<T>[k]] == names[kSortedFields<T>[k - 1]]) return false;
  return true;
}

template <class M>
constexpr void check_field() {
  static_assert(!std::is_floating_point_v<M>,
                "bencode has no floating-point form: a float or double cannot be encoded "
                "(carry it as an integer, e.g. fixed-point, or as a byte string)");
  static_assert(!SharedPtr<M> && !WeakPtr<M>, "bencode: shared_ptr/weak_ptr are Java-only");
  static_assert(Scalar<M> || String<M> || Blob<M> || Vector<M> || Array<M> || Optional<M> ||
                    Map<M> || Described<M> || std::is_same_v<M, Value>,
                "bencode: this type is not a wire/ value type");
}

template <class Out>
class Encoder {
 public:
  explicit Encoder(Out& out) : out_(out) {}

  template <class M>
  void value(const M& x, std::string_view label) {
    check_field<M>();
    static_assert(!Optional<M>, "bencode: std::optional is only a struct field (an absent key)");
    if constexpr (std::is_same_v<M, bool>) {
      number(std::uint64_t{x ? 1u : 0u}, label);
    } else if constexpr (Scalar<M>) {
      using C = carried_t<M>;
      if constexpr (std::is_signed_v<C>)
        number(static_cast<std::int64_t>(static_cast<C>(x)), label);
      else
        number(static_cast<std::uint64_t>(static_cast<C>(x)), label);
    } else if constexpr (String<M> || Blob<M>) {
      string(std::string_view(reinterpret_cast<const char*>(x.data()), x.size()), label,
             Part::value);
    } else if constexpr (Vector<M> || Array<M>) {
      list(x, label);
    } else if constexpr (Map<M>) {
      map(x, label);
    } else if constexpr (std::is_same_v<M, Value>) {
      const std::size_t at = out_.size();
      bencode::encode(x, out_);
      out_.note(at, Part::value, label);
    } else {
      dict(x, label);
    }
  }

  template <Described T>
  void dict(const T& v, std::string_view label) {
    static_assert(names_unique<T>(), "bencode: two fields of this type have the same name");
    out_.enter(label);
    mark('d');
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      (field<T, kSortedFields<T>[K]>(v), ...);
    }
    (std::make_index_sequence<field_count<T>>{});
    mark('e');
    out_.leave();
  }

 private:
  template <class T, std::size_t I>
  void field(const T& v) {
    constexpr auto f = field_of<T, I>;
    using M = typename decltype(f)::value_type;
    const M& x = f.get(v);
    if constexpr (Optional<M>) {
      if (!x) return;
      string(f.name, f.name, Part::tag);
      value(*x, f.name);
    } else {
      string(f.name, f.name, Part::tag);
      value(x, f.name);
    }
  }

  void mark(char c) {
    const std::size_t at = out_.size();
    out_.push_back(c);
    out_.note(at, Part::structure);
  }

  template <class N>
  void number(N n, std::string_view label) {
    const std::size_t at = out_.size();
    char* p = reinterpret_cast<char*>(out_.room(24));
    p[0] = 'i';
    char* end = std::to_chars(p + 1, p + 23, n).ptr;
    *end++ = 'e';
    out_.commit(static_cast<std::size_t>(end - p));
    out_.note(at, Part::value, label);
  }

  void string(std::string_view s, std::string_view label, Part part) {
    const std::size_t at = out_.size();
    char* p = reinterpret_cast<char*>(out_.room(21));
    char* end = std::to_chars(p, p + 20, s.size()).ptr;
    *end++ = ':';
    out_.commit(static_cast<std::size_t>(end - p));
    out_.note(at, Part::length, label);
    const std::size_t body = out_.size();
    out_.append(s);
    out_.note(body, part, label);
  }

  template <class M>
  void list(const M& x, std::string_view label) {
    using E = typename M::value_type;
    out_.enter(label);
    mark('l');
    for (const auto& e : x)
      value(static_cast<const E&>(e), label);
    mark('e');
    out_.leave();
  }

  template <class M>
  void map(const M& x, std::string_view label) {
    using K = typename M::key_type;
    out_.enter(label);
    mark('d');
    constexpr bool byte_order =
        String<K> && (std::is_same_v<typename M::key_compare, std::less<>> ||
                      std::is_same_v<typename M::key_compare, std::less<K>>);
    if constexpr (byte_order) {
      for (const auto& [k, v] : x) {
        string(k, label, Part::tag);
        value(v, label);
      }
    } else {  // integer keys (or another order): as text, sorted as bytes
      std::vector<std::pair<std::string, const typename M::mapped_type*>> keys;
      keys.reserve(x.size());
      for (const auto& [k, v] : x) {
        if constexpr (String<K>)
          keys.emplace_back(k, &v);
        else
          keys.emplace_back(std::to_string(static_cast<carried_t<K>>(k)), &v);
      }
      std::sort(keys.begin(), keys.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& [k, v] : keys) {
        string(k, label, Part::tag);
        value(*v, label);
      }
    }
    mark('e');
    out_.leave();
  }

  Out& out_;
};

// Whether n fits in I (with its sign); if so, stores it.
template <class I>
bool fit(const Integer& n, I& out) {
  using U = std::make_unsigned_t<I>;
  if constexpr (std::is_signed_v<I>) {
    const std::uint64_t most =
        static_cast<std::uint64_t>(std::numeric_limits<I>::max()) + (n.negative ? 1 : 0);
    if (n.magnitude > most) return false;
  } else {
    if (n.negative || n.magnitude > std::numeric_limits<I>::max()) return false;
  }
  const std::uint64_t bits = n.negative ? 0 - n.magnitude : n.magnitude;
  out = static_cast<I>(static_cast<U>(bits));
  return true;
}

class Decoder {
 public:
  Decoder(std::span<const std::byte> bytes, const Limits& limits) : r_(bytes, limits) {}

  Reader& reader() noexcept { return r_; }

  template <class M>
  bool value(M& x, std::string_view label) {
    check_field<M>();
    static_assert(!Optional<M>, "bencode: std::optional is only a struct field (an absent key)");
    unsigned char c;
    if (!r_.peek_value(c)) return false;
    if constexpr (Scalar<M>) {
      return scalar(x, c, label);
    } else if constexpr (String<M> || Blob<M>) {
      return text(x, c, label);
    } else if constexpr (Vector<M> || Array<M>) {
      return list(x, c, label);
    } else if constexpr (Map<M>) {
      return map(x, c, label);
    } else if constexpr (std::is_same_v<M, Value>) {
      return read_value(r_, x);
    } else {
      return dict(x, c, label);
    }
  }

 private:
  template <class M>
  bool scalar(M& x, unsigned char c, std::string_view label) {
    const std::size_t at = r_.offset();
    Integer n;
    if (!r_.expect(c, 'i', label) || !r_.read_integer(n)) return false;
    if constexpr (std::is_same_v<M, bool>) {
      if (!n.negative && n.magnitude <= 1) {
        x = n.magnitude == 1;
        return true;
      }
      return r_.fail_at(
          at, std::string(label) + ": integer " + integer_text(n) + " is not a bool (0 or 1)");
    } else {
      carried_t<M> v{};
      if (!fit(n, v))
        return r_.fail_at(at, std::string(label) + ": integer " + integer_text(n) +
                                  " is out of range of its C++ type");
      x = static_cast<M>(v);
      return true;
    }
  }

  template <class M>
  bool text(M& x, unsigned char c, std::string_view label) {
    const std::size_t at = r_.offset();
    std::string_view s;
    if (!r_.expect(c, 's', label) || !r_.read_string(s)) return false;
    if (!s.empty() && !r_.state().charge(1, s.size(), label, at)) return false;
    const auto* p = reinterpret_cast<const typename M::value_type*>(s.data());
    x.assign(p, p + s.size());
    return true;
  }

  template <class M>
  bool list(M& x, unsigned char c, std::string_view label) {
    using E = typename M::value_type;
    const std::size_t at = r_.offset();
    if (!r_.expect(c, 'l', label) || !r_.open()) return false;
    std::size_t count = 0;
    if constexpr (Vector<M>) x.clear();
    for (bool more; r_.next(at, count, more) && more; ++count) {
      if constexpr (Array<M>) {
        if (count == x.size())
          return r_.fail_at(r_.offset(), std::string(label) + ": more than " +
                                             std::to_string(x.size()) + " elements");
        if (!value(x[count], label)) return false;
      } else {
        E e{};
        if (!r_.state().charge(1, sizeof(E), label, r_.offset()) || !value(e, label)) return false;
        x.push_back(std::move(e));
      }
    }
    if (r_.state().error.failed()) return false;
    if constexpr (Array<M>) {
      if (count != x.size())
        return r_.fail_at(at, std::string(label) + ": " + std::to_string(x.size()) +
                                  " elements expected, found " + std::to_string(count));
    }
    return true;
  }

  template <class M>
  bool map(M& x, unsigned char c, std::string_view label) {
    using K = typename M::key_type;
    using V = typename M::mapped_type;
    const std::size_t at = r_.offset();
    if (!r_.expect(c, 'd', label) || !r_.open()) return false;
    x.clear();
    std::string_view prev;
    std::size_t count = 0;
    for (bool more; r_.next(at, count, more) && more; ++count) {
      const std::size_t key_at = r_.offset();
      std::string_view key;
      if (!r_.read_key(key, count == 0 ? nullptr : &prev)) return false;
      prev = key;
      K k{};
      if (!map_key(key, key_at, k, label) ||
          !r_.state().charge(1, sizeof(typename M::value_type) + kMapNodeOverhead, label, key_at))
        return false;
      V v{};
      if (!value(v, label)) return false;
      x.emplace_hint(x.end(), std::move(k), std::move(v));
    }
    return !r_.state().error.failed();
  }

  template <class K>
  bool map_key(std::string_view key, std::size_t at, K& k, std::string_view label) {
    if constexpr (String<K>) {
      k.assign(key);
      return true;
    } else {
      // The key's text must be the canonical decimal of an integer in K's range.
      Integer n;
      std::string_view digits = key;
      if (!digits.empty() && digits[0] == '-') {
        n.negative = true;
        digits.remove_prefix(1);
      }
      const char* end = digits.data() + digits.size();
      auto [p, ec] = std::from_chars(digits.data(), end, n.magnitude);
      carried_t<K> v{};
      const bool canonical = ec == std::errc() && p == end && !digits.empty() &&
                             (digits[0] != '0' || (digits.size() == 1 && !n.negative));
      if (!canonical || !fit(n, v))
        return r_.fail_at(at, std::string(label) + ": key " + quote(key) +
                                  " is not a canonical decimal integer in its C++ key's range");
      k = static_cast<K>(v);
      return true;
    }
  }

  template <Described T>
  bool dict(T& v, unsigned char c, std::string_view label) {
    static_assert(names_unique<T>(), "bencode: two fields of this type have the same name");
    const std::size_t at = r_.offset();
    if (!r_.expect(c, 'd', label) || !r_.open()) return false;
    std::array<bool, field_count<T>> seen{};
    std::string_view prev;
    std::size_t count = 0;
    for (bool more; r_.next(at, count, more) && more; ++count) {
      std::string_view key;
      if (!r_.read_key(key, count == 0 ? nullptr : &prev)) return false;
      prev = key;
      bool ok = true;
      const bool known = [&]<std::size_t... I>(std::index_sequence<I...>) {
        return ((field_of<T, I>.name == key && (seen[I] = true, ok = field<T, I>(v), true)) || ...);
      }
      (std::make_index_sequence<field_count<T>>{});
      if (!known) ok = r_.skip_value();
      if (!ok) return false;
    }
    if (r_.state().error.failed()) return false;
    return all_fields<T>(
        [&](auto i) { return absent<T, decltype(i)::value>(v, seen[i], at, label); });
  }

  template <class T, std::size_t I>
  bool field(T& v) {
    constexpr auto f = field_of<T, I>;
    using M = typename decltype(f)::value_type;
    M& x = f.get(v);
    if constexpr (Optional<M>) {
      if (!x) x.emplace();
      return value(*x, f.name);
    } else {
      return value(x, f.name);
    }
  }

  // After the dictionary: an absent optional is emptied; any other absent field is an error.
  template <class T, std::size_t I>
  bool absent(T& v, bool seen, std::size_t at, std::string_view label) {
    if (seen) return true;
    constexpr auto f = field_of<T, I>;
    using M = typename decltype(f)::value_type;
    if constexpr (Optional<M>) {
      f.get(v).reset();
      return true;
    } else {
      return r_.fail_at(at, std::string(label) + ": missing key " + quote(f.name));
    }
  }

  Reader r_;
};

}  // namespace detail

// Appends v to `out` as a bencode dictionary (canonical: keys in byte order). Never fails
// (allocation failure throws std::bad_alloc). A type with a float or double field does not
// compile (bencode has no such values).
template <Described T, class Out>
void encode(const T& v, Out& out) {
  detail::Encoder<Out>(out).dict(v, description_of<T>.name);
}

// Reads v from one bencode dictionary, the whole input. Unknown keys are skipped; a
// missing key is an error unless its field is optional. On error v holds what was read
// so far; the error says "bencode: at byte N: <reason>".
template <Described T>
Result<void> decode(std::span<const std::byte> bytes, T& v, const Limits& limits = {}) {
  detail::Decoder d(bytes, limits);
  detail::Reader& r = d.reader();
  if (!r.state().check_size() || !d.value(v, description_of<T>.name) || !r.finish())
    return r.state().error.to_error("bencode");
  return ok();
}

template <Described T>
Result<T> decode(std::span<const std::byte> bytes, const Limits& limits = {}) {
  T v{};
  if (auto r = decode(bytes, v, limits); !r) return std::move(r).error();
  return v;
}

// The same, from text.
template <Described T>
Result<void> decode(std::string_view text, T& v, const Limits& limits = {}) {
  return decode(std::as_bytes(std::span<const char>(text.data(), text.size())), v, limits);
}
template <Described T>
Result<T> decode(std::string_view text, const Limits& limits = {}) {
  return decode<T>(std::as_bytes(std::span<const char>(text.data(), text.size())), limits);
}

}  // namespace nexo::wire::bencode
