// The protobuf decoder (see proto.hpp): a loop over the keys of a message, a dispatch on
// the field number, and the first error kept in its DecodeState.
#pragma once

#include <array>
#include <cstring>
#include <string>
#include <string_view>

#include "nexo/wire/decode.hpp"
#include "nexo/wire/proto_wire.hpp"

namespace nexo::wire::proto::detail {

class Decoder {
 public:
  Decoder(std::span<const std::byte> bytes, const Limits& limits)
      : st_(bytes, limits), base_(st_.in.begin()), p_(base_), end_(st_.in.end()) {}

  DecodeState& state() { return st_; }

  // Reads the fields of a message up to the current end. `fresh`: v holds nothing of
  // this message yet (fields not met are reset); otherwise what is met merges into v.
  template <Described T>
  bool message(T& v, bool fresh);

 private:
  template <std::size_t N>
  struct Seen {
    std::array<bool, N> seen{};
    std::array<std::size_t, N> used{};  // elements of a repeated field read so far
  };

  bool fail(const unsigned char* at, std::string reason) {
    return st_.fail_at(static_cast<std::size_t>(at - base_), std::move(reason));
  }
  bool fail_limit(const unsigned char* at, std::string what, std::string_view name,
                  std::size_t value) {
    st_.in.seek(static_cast<std::size_t>(at - base_));
    return st_.fail_limit(what, name, value);
  }
  bool enter(const unsigned char* at) {
    if (st_.depth + 1 > st_.limits.max_depth)
      return fail_limit(at, "nesting", "max_depth", st_.limits.max_depth);
    ++st_.depth;
    return true;
  }

  bool read_varint(std::uint64_t& out, std::string_view what) {
    if (end_ - p_ >= 2) [[likely]] {  // one or two bytes: most keys, lengths and values
      if (p_[0] < 0x80) {
        out = *p_++;
        return true;
      }
      if (p_[1] < 0x80) {
        out = (p_[0] & 0x7fu) | (static_cast<std::uint64_t>(p_[1]) << 7);
        p_ += 2;
        return true;
      }
    }
    return read_varint_slow(out, what);
  }
  bool read_varint_slow(std::uint64_t& out, std::string_view what);
  // A LEN prefix: the length, checked against the rest of the enclosing message.
  bool read_length(std::size_t& n, std::string_view what) {
    const unsigned char* at = p_;
    std::uint64_t w = 0;
    if (!read_varint(w, what)) return false;
    if (w > static_cast<std::size_t>(end_ - p_)) [[unlikely]]
      return length_past_end(at, w, what);
    n = static_cast<std::size_t>(w);
    return true;
  }
  bool length_past_end(const unsigned char* at, std::uint64_t n, std::string_view what);
  template <class Bits>
  bool read_fixed(Bits& out, std::string_view what) {
    if (static_cast<std::size_t>(end_ - p_) < sizeof(Bits)) return truncated(what, sizeof(Bits));
    std::memcpy(&out, p_, sizeof(Bits));
    p_ += sizeof(Bits);
    return true;
  }
  bool truncated(std::string_view what, std::size_t n);
  bool wrong_type(const unsigned char* at, std::uint32_t number, std::string_view name,
                  unsigned got, unsigned want);
  bool skip(unsigned wire_type, std::uint64_t number, const unsigned char* at);
  bool skip_group(std::uint64_t number, const unsigned char* at);
  // Checks UTF-8: a fast pass for ASCII, the full check only when a byte is >= 0x80.
  bool check_utf8(const unsigned char* at, std::size_t n, std::string_view name) {
    std::uint64_t high = 0;
    std::size_t k = 0;
    for (; k + 8 <= n; k += 8) {
      std::uint64_t word;
      std::memcpy(&word, at + k, 8);
      high |= word;
    }
    for (; k < n; ++k)
      high |= at[k];
    if ((high & 0x8080808080808080ull) == 0) return true;
    return check_utf8_slow(at, n, name);
  }
  bool check_utf8_slow(const unsigned char* at, std::size_t n, std::string_view name);

  // One scalar value of the field's wire type (already checked).
  template <class E, FieldOption O>
  bool scalar(E& x, std::string_view name) {
    using S = ScalarWire<E, O>;
    const unsigned char* at = p_;
    bool fits;
    if constexpr (S::fixed) {
      typename S::Bits bits = 0;
      if (!read_fixed(bits, name)) return false;
      fits = S::from_fixed(bits, x);
    } else {
      std::uint64_t w = 0;
      if (!read_varint(w, name)) return false;
      fits = S::from_varint(w, x);
    }
    if (!fits)
      return fail(at, "value of " + std::string(name) + " is out of range of its C++ type");
    return true;
  }

  template <class S>
  bool text(S& x, std::string_view name) {
    std::size_t n = 0;
    const unsigned char* at = p_;
    if (!read_length(n, name)) return false;
    if (n > st_.limits.max_string)
      return fail_limit(at, std::string(name) + " length " + std::to_string(n), "max_string",
                        st_.limits.max_string);
    if (!charge(at, n, 1, name)) return false;
    if constexpr (String<S>) {
      if (!check_utf8(p_, n, name)) return false;
      if (x.size() != n) x.resize(n);  // cheaper than assign() into a used string
      std::memcpy(x.data(), p_, n);
    } else {
      x.assign(reinterpret_cast<const std::byte*>(p_), reinterpret_cast<const std::byte*>(p_) + n);
    }
    p_ += n;
    return true;
  }

  // A length-delimited nested message.
  template <Described T>
  bool nested(T& x, bool fresh, std::string_view name) {
    const unsigned char* at = p_;
    std::size_t n = 0;
    if (!read_length(n, name) || !enter(at)) return false;
    const unsigned char* outer = end_;
    end_ = p_ + n;
    bool ok = message(x, fresh);
    end_ = outer;
    --st_.depth;
    return ok;
  }

  // One value (not repeated): a scalar, string, bytes or message, checking the wire type.
  template <std::uint32_t N, FieldOption O, class E>
  bool element(E& x, unsigned wt, const unsigned char* at, bool fresh, std::string_view name) {
    if constexpr (Scalar<E>) {
      constexpr unsigned want = ScalarWire<E, O>::wire_type;
      if (wt != want) return wrong_type(at, N, name, wt, want);
      return scalar<E, O>(x, name);
    } else {
      if (wt != len) return wrong_type(at, N, name, wt, len);
      if constexpr (Described<E>)
        return nested(x, fresh, name);
      else
        return text(x, name);
    }
  }

  bool count_limit(const unsigned char* at, std::size_t count, std::string_view name) {
    if (count <= st_.limits.max_elements) return true;
    return fail_limit(at, std::string(name) + " count " + std::to_string(count), "max_elements",
                      st_.limits.max_elements);
  }
  // Charges `count` elements of `size` bytes to max_decoded (the error at `at`).
  bool charge(const unsigned char* at, std::size_t count, std::size_t size,
              std::string_view name) {
    return st_.charge(count, size, name, static_cast<std::size_t>(at - base_));
  }

  template <std::uint32_t N, FieldOption O, class V>
  bool repeated_scalar(V& x, unsigned wt, const unsigned char* at, std::size_t& used, bool restart,
                       std::string_view name);
  template <std::uint32_t N, class M>
  bool map_entry(M& x, unsigned wt, const unsigned char* at, std::string_view name);

  template <class T, std::size_t I>
  bool on_field(T& v, unsigned wt, const unsigned char* at, Seen<field_count<T>>& s, bool fresh);
  template <class T, std::size_t I>
  void finish_field(T& v, Seen<field_count<T>>& s, bool fresh);

  DecodeState st_;
  const unsigned char* base_;
  const unsigned char* p_;
  const unsigned char* end_;  // the end of the message being read
};

// Resets a value to what an absent field decodes to.
template <class M>
void reset(M& x) {
  if constexpr (Scalar<M>) {
    x = M{};
  } else if constexpr (Array<M>) {
    for (auto& e : x)
      reset(e);
  } else if constexpr (Optional<M>) {
    x.reset();
  } else if constexpr (Described<M>) {
    for_each_field<M>([&](auto i) { reset(field_of<M, decltype(i)::value>.get(x)); });
  } else {
    x.clear();
  }
}

template <Described T>
bool Decoder::message(T& v, bool fresh) {
  Seen<field_count<T>> s;
  for_each_field<T>([&](auto i) {
    using M = typename decltype(field_of<T, decltype(i)::value>)::value_type;
    if constexpr (Vector<M>)
      if (!fresh) s.used[i] = field_of<T, decltype(i)::value>.get(v).size();
  });
  while (p_ < end_) {
    const unsigned char* at = p_;
    std::uint64_t k;
    if (!read_varint(k, "key")) return false;
    const unsigned wt = static_cast<unsigned>(k & 7);
    const std::uint64_t number = k >> 3;
    bool ok = true;
    bool known = [&]<std::size_t... I>(std::index_sequence<I...>) {
      return (
          (field_of<T, I>.number == number && (ok = on_field<T, I>(v, wt, at, s, fresh), true)) ||
          ...);
    }
    (std::make_index_sequence<field_count<T>>{});
    if (!known) ok = skip(wt, number, at);
    if (!ok) return false;
  }
  for_each_field<T>([&](auto i) { finish_field<T, decltype(i)::value>(v, s, fresh); });
  return true;
}

template <class T, std::size_t I>
bool Decoder::on_field(T& v, unsigned wt, const unsigned char* at, Seen<field_count<T>>& s,
                       bool fresh) {
  constexpr auto f = field_of<T, I>;
  using M = typename decltype(f)::value_type;
  static_assert(is_proto_field<M>(), "proto: this field type has no protobuf form");
  M& x = f.get(v);
  const bool first = !s.seen[I];
  s.seen[I] = true;
  if constexpr (is_packed<M>()) {
    return repeated_scalar<f.number, f.options>(x, wt, at, s.used[I], first && fresh, f.name);
  } else if constexpr (Vector<M> || Array<M>) {
    std::size_t& used = s.used[I];
    if constexpr (Array<M>) {
      if (used == x.size())
        return fail(
            at, std::string(f.name) + " has more than " + std::to_string(x.size()) + " elements");
      return element<f.number, f.options>(x[used++], wt, at, true, f.name);
    } else {
      if (!count_limit(at, used + 1, f.name) ||
          !charge(at, 1, sizeof(typename M::value_type), f.name))
        return false;
      if (used == x.size()) x.emplace_back();
      return element<f.number, f.options>(x[used++], wt, at, true, f.name);
    }
  } else if constexpr (Optional<M>) {
    bool fresh_value = !x.has_value() || (fresh && first);
    if (!x) x.emplace();
    return element<f.number, f.options>(*x, wt, at, fresh_value, f.name);
  } else if constexpr (Map<M>) {
    if (first && fresh) x.clear();
    return map_entry<f.number>(x, wt, at, f.name);
  } else {
    return element<f.number, f.options>(x, wt, at, fresh && first, f.name);
  }
}

template <class T, std::size_t I>
void Decoder::finish_field(T& v, Seen<field_count<T>>& s, bool fresh) {
  constexpr auto f = field_of<T, I>;
  using M = typename decltype(f)::value_type;
  M& x = f.get(v);
  if constexpr (Vector<M> && !is_packed<M>()) {
    if (s.used[I] < x.size()) x.resize(s.used[I]);
  } else if constexpr (Array<M>) {
    if (s.seen[I]) {
      for (std::size_t k = s.used[I]; k < x.size(); ++k)
        reset(x[k]);
    } else if (fresh) {
      reset(x);
    }
  } else {
    if (fresh && !s.seen[I]) reset(x);
  }
}

template <std::uint32_t N, FieldOption O, class V>
bool Decoder::repeated_scalar(V& x, unsigned wt, const unsigned char* at, std::size_t& used,
                              bool restart, std::string_view name) {
  using E = typename V::value_type;
  using S = ScalarWire<E, O>;
  if constexpr (Vector<V>) {  // the first occurrence in a fresh message replaces the values
    if (restart && !(S::raw && wt == len)) x.clear();
  }
  auto put = [&](const unsigned char* e_at, E e) {
    if constexpr (Array<V>) {
      if (used == x.size())
        return fail(e_at,
                    std::string(name) + " has more than " + std::to_string(x.size()) + " elements");
      x[used++] = e;
    } else {
      if (!count_limit(e_at, x.size() + 1, name) || !charge(e_at, 1, sizeof(E), name))
        return false;
      x.push_back(e);
    }
    return true;
  };
  if (wt == S::wire_type) {  // one unpacked value
    E e{};
    return scalar<E, O>(e, name) && put(at, e);
  }
  if (wt != len) return wrong_type(at, N, name, wt, len);
  std::size_t n = 0;
  if (!read_length(n, name)) return false;
  const unsigned char* stop = p_ + n;
  if constexpr (S::fixed) {
    if (n % S::size != 0)
      return fail(at, std::string(name) + ": packed length " + std::to_string(n) +
                          " is not a multiple of " + std::to_string(S::size));
    if constexpr (S::raw && Vector<V>) {  // copied as they are (little-endian host)
      std::size_t old = restart ? 0 : x.size();
      if (!count_limit(at, old + n / S::size, name) || !charge(at, n / S::size, sizeof(E), name))
        return false;
      x.resize(old + n / S::size);
      if (n != 0) std::memcpy(x.data() + old, p_, n);
      p_ = stop;
      return true;
    }
  }
  const unsigned char* outer = end_;
  end_ = stop;
  bool ok = true;
  while (ok && p_ < end_) {
    const unsigned char* e_at = p_;
    E e{};
    ok = scalar<E, O>(e, name) && put(e_at, e);
  }
  end_ = outer;
  return ok;
}

template <std::uint32_t N, class M>
bool Decoder::map_entry(M& x, unsigned wt, const unsigned char* at, std::string_view name) {
  using K = typename M::key_type;
  using V = typename M::mapped_type;
  if (wt != len) return wrong_type(at, N, name, wt, len);
  std::size_t n = 0;
  constexpr std::size_t entry_size = sizeof(typename M::value_type) + kMapNodeOverhead;
  if (!read_length(n, name) || !charge(at, 1, entry_size, name) || !enter(at)) return false;
  const unsigned char* outer = end_;
  end_ = p_ + n;
  K key{};
  V value{};
  bool value_seen = false;
  bool ok = true;
  while (ok && p_ < end_) {
    const unsigned char* f_at = p_;
    std::uint64_t k;
    if (!read_varint(k, "key")) return false;
    const unsigned fwt = static_cast<unsigned>(k & 7);
    if (k >> 3 == 1) {
      ok = element<1, none>(key, fwt, f_at, true, "map key");
    } else if (k >> 3 == 2) {
      ok = element<2, none>(value, fwt, f_at, !value_seen, "map value");
      value_seen = true;
    } else {
      ok = skip(fwt, k >> 3, f_at);
    }
  }
  end_ = outer;
  --st_.depth;
  if (!ok) return false;
  x.insert_or_assign(std::move(key), std::move(value));  // a repeated key: the last wins
  return count_limit(at, x.size(), name);
}

}  // namespace nexo::wire::proto::detail
