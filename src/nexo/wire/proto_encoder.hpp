// The protobuf encoder (see proto.hpp): one pass, fields in field-number order.
#pragma once

#include <cstring>
#include <string>
#include <string_view>

#include "nexo/wire/buffer.hpp"
#include "nexo/wire/proto_wire.hpp"
#include "nexo/wire/text.hpp"

namespace nexo::wire::proto::detail {

template <class Out>
class Encoder {
 public:
  explicit Encoder(Out& out) : out_(out) {}

  // The fields of v, in field-number order (a message's body, without key or length).
  template <Described T>
  void body(const T& v) {
    static_assert(numbers_valid<T>(),
                  "proto: field numbers must be distinct, in 1..2^29-1, not 19000..19999");
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      (field<T, number_order<T>[K]>(v), ...);
    }
    (std::make_index_sequence<field_count<T>>{});
  }

 private:
  template <class T, std::size_t I>
  void field(const T& v) {
    constexpr auto f = field_of<T, I>;
    using M = typename decltype(f)::value_type;
    static_assert(is_proto_field<M>(), "proto: this field type has no protobuf form");
    const M& x = f.get(v);
    if constexpr (Scalar<M>) {
      if (!ScalarWire<M, f.options>::is_default(x)) element<f.number, f.options>(x, f.name);
    } else if constexpr (String<M> || Blob<M>) {
      if (!x.empty()) element<f.number, f.options>(x, f.name);
    } else if constexpr (is_packed<M>()) {
      if (!x.empty()) packed<f.number, f.options>(x, f.name);
    } else if constexpr (Vector<M> || Array<M>) {
      for (const auto& e : x)
        element<f.number, f.options>(e, f.name);
    } else if constexpr (Optional<M>) {
      if (x) element<f.number, f.options>(*x, f.name);
    } else if constexpr (Map<M>) {
      for (const auto& [key, mapped] : x)
        entry<f.number>(key, mapped, f.name);
    } else {
      element<f.number, f.options>(x, f.name);
    }
  }

  template <std::uint32_t N, unsigned W>
  void key(std::string_view name) {
    constexpr std::uint64_t k = key_of(N, W);
    std::size_t begin = out_.size();
    if constexpr (k < 0x80) {
      out_.push_back(static_cast<std::byte>(k));
    } else {
      out_.commit(put_varint(out_.room(10), k));
    }
    if constexpr (Out::annotating) out_.note(begin, Part::tag, key_label(N, name, W));
  }

  void length(std::size_t n, std::string_view name) {
    std::size_t begin = out_.size();
    if (n < 0x80)
      out_.push_back(static_cast<std::byte>(n));
    else
      out_.commit(put_varint(out_.room(10), n));
    if constexpr (Out::annotating) out_.note(begin, Part::length, std::string(name) + " length");
  }

  template <class E, FieldOption O>
  void scalar(E x) {
    using S = ScalarWire<E, O>;
    if constexpr (S::fixed) {
      auto bits = S::to_fixed(x);
      std::memcpy(out_.extend(sizeof(bits)), &bits, sizeof(bits));
    } else {
      out_.commit(put_varint(out_.room(10), S::to_varint(x)));
    }
  }

  // One value with its key, always written.
  template <std::uint32_t N, FieldOption O, class E>
  void element(const E& x, std::string_view name) {
    if constexpr (Scalar<E>) {
      key<N, ScalarWire<E, O>::wire_type>(name);
      std::size_t begin = out_.size();
      scalar<E, O>(x);
      if constexpr (Out::annotating) {
        std::string text(name);
        text += " = ";
        wire::detail::text_scalar(text, x);
        out_.note(begin, Part::value, text);
      }
    } else if constexpr (String<E> || Blob<E>) {
      key<N, len>(name);
      length(x.size(), name);
      std::size_t begin = out_.size();
      out_.append(x.data(), x.size());
      out_.note(begin, Part::value, name);
    } else {
      key<N, len>(name);
      nested(name, [&](auto& e) { e.body(x); });
    }
  }

  template <std::uint32_t N, FieldOption O, class V>
  void packed(const V& x, std::string_view name) {
    using E = typename V::value_type;
    using S = ScalarWire<E, O>;
    key<N, len>(name);
    std::size_t bytes = 0;
    if constexpr (S::fixed) {
      bytes = x.size() * S::size;
    } else {
      for (const auto& e : x)
        bytes += varint_size(S::to_varint(e));
    }
    length(bytes, name);
    std::size_t begin = out_.size();
    if constexpr (S::raw) {
      out_.append(x.data(), bytes);
    } else if constexpr (S::fixed) {
      std::byte* p = out_.extend(bytes);
      for (const auto& e : x) {
        auto bits = S::to_fixed(e);
        std::memcpy(p, &bits, sizeof(bits));
        p += sizeof(bits);
      }
    } else {
      std::byte* p = out_.extend(bytes);
      for (const auto& e : x)
        p += put_varint(p, S::to_varint(e));
    }
    if constexpr (Out::annotating)
      out_.note(begin, Part::value,
                std::string(name) + " (" + std::to_string(x.size()) + " packed values)");
  }

  template <std::uint32_t N, class K, class V>
  void entry(const K& k, const V& v, std::string_view name) {
    key<N, len>(name);
    nested(name, [&](auto& e) {
      e.template element<1, none>(k, "key");
      e.template element<2, none>(v, "value");
    });
  }

  // A length-delimited body. The fast path reserves one byte for the length and moves
  // the body when it turns out longer than 127 bytes; the annotating path encodes the
  // body twice (once to learn its length) so that its notes stay where they are.
  template <class Fn>
  void nested(std::string_view name, Fn&& write) {
    if constexpr (Out::annotating) {
      Buffer scratch;
      Encoder<Buffer> sizer(scratch);
      write(sizer);
      length(scratch.size(), name);
      out_.enter(name);
      write(*this);
      out_.leave();
    } else {
      std::size_t at = out_.size();
      out_.extend(1);
      write(*this);
      std::size_t n = out_.size() - at - 1;
      if (n < 0x80) {
        out_.data()[at] = static_cast<std::byte>(n);
        return;
      }
      std::size_t extra = varint_size(n) - 1;
      out_.extend(extra);
      std::byte* p = out_.data() + at;
      std::memmove(p + 1 + extra, p + 1, n);
      put_varint(p, n);
    }
  }

  template <class>
  friend class Encoder;
  Out& out_;
};

}  // namespace nexo::wire::proto::detail
