// The writer of java.hpp (see the byte layout there). Internal.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include "nexo/wire/buffer.hpp"
#include "nexo/wire/java_types.hpp"
#include "nexo/wire/text.hpp"

namespace nexo::wire::java::detail {

// Writes one stream. Knows which classes, type strings and shared objects it has
// written, and the next handle.
template <class Out>
class Encoder {
 public:
  explicit Encoder(Out& out) : out_(out) {}

  void header() {
    std::size_t begin = out_.size();
    out_.append("\xac\xed\x00\x05", 4);
    out_.note(begin, Part::header, "java serialization stream: magic AC ED, version 5");
  }

  template <class T>
  void root(const T& v) {
    if constexpr (SharedPtr<T>) {
      reference_value(v, java_name<typename T::element_type>());
    } else {
      object(v, java_name<T>());
    }
  }

 private:
  std::uint32_t new_handle() { return kBaseWireHandle + next_handle_++; }

  void tag(unsigned char code, std::string_view label) {
    std::size_t begin = out_.size();
    out_.push_back(static_cast<std::byte>(code));
    if constexpr (Out::annotating) {
      std::string text(tc_name(code));
      if (!label.empty()) text += " " + std::string(label);
      out_.note(begin, Part::tag, text);
    }
  }

  void reference(std::uint32_t handle, std::string_view what) {
    tag(TC_REFERENCE, "");
    std::size_t begin = out_.size();
    put(handle);
    if constexpr (Out::annotating)
      out_.note(begin, Part::handle, handle_name(handle) + " → " + std::string(what));
  }

  template <class U>
  void put(U v) {
    v = big_endian(v);
    std::memcpy(out_.extend(sizeof(U)), &v, sizeof(U));
  }

  // A field's value inside an object's class data.
  template <class M>
  void field(const M& v, std::string_view label) {
    if constexpr (Scalar<M>) {
      std::size_t begin = out_.size();
      put(to_bits(v));
      if constexpr (Out::annotating) {
        std::string text(label);
        text += " = ";
        wire::detail::text_scalar(text, v);
        out_.note(begin, Part::value, text);
      }
    } else {
      reference_value(v, label);
    }
  }

  // Anything in an object position: a string, an array, an object, null, a reference.
  template <class M>
  void reference_value(const M& v, std::string_view label) {
    (void)type_code<M>();  // the static_asserts on unsupported types
    if constexpr (String<M>) {
      string(v, label);
    } else if constexpr (Blob<M> || Vector<M> || Array<M>) {
      array(v, label);
    } else if constexpr (Optional<M>) {
      if (v)
        reference_value(*v, label);
      else
        tag(TC_NULL, label);
    } else if constexpr (WeakPtr<M>) {
      reference_value(v.lock(), label);
    } else if constexpr (SharedPtr<M>) {
      using E = typename M::element_type;
      if (!v) {
        tag(TC_NULL, label);
        return;
      }
      auto it = objects_.find(static_cast<const void*>(v.get()));
      if (it != objects_.end() && it->second.type == &type_key<E>) {
        reference(it->second.handle, java_name<E>());
        return;
      }
      object(*v, label, static_cast<const void*>(v.get()));
    } else {
      object(v, label);
    }
  }

  template <class T>
  void object(const T& v, std::string_view label, const void* identity = nullptr) {
    out_.enter(label);
    tag(TC_OBJECT, java_name<T>());
    class_desc<T>();
    std::uint32_t handle = new_handle();
    if (identity != nullptr) objects_[identity] = Shared{handle, &type_key<T>};
    fields<T>(v, std::make_index_sequence<field_count<T>>{});
    out_.leave();
  }

  template <class T, std::size_t... I>
  void fields(const T& v, std::index_sequence<I...>) {
    (field(field_of<T, java_order<T>[I]>.get(v), field_of<T, java_order<T>[I]>.name), ...);
  }

  template <class M>
  void class_desc() {
    const ClassInfo& ci = class_info<M>();
    if (const std::uint32_t* h = classes_.find(ci.name, &ci)) {
      if constexpr (Out::annotating)
        reference(*h, "class " + ci.name);
      else
        reference(*h, {});
      return;
    }
    tag(TC_CLASSDESC, "");
    classes_.add(ci.name, new_handle(), &ci);
    std::size_t begin = out_.size();
    out_.append(ci.head);
    if constexpr (Out::annotating)
      out_.note(begin, Part::type_info,
                "class " + ci.name + ", serialVersionUID " + std::to_string(ci.uid) +
                    ", SC_SERIALIZABLE, " + std::to_string(ci.fields.size()) + " fields");
    for (const FieldInfo& f : ci.fields) {
      begin = out_.size();
      out_.append(f.head);
      if constexpr (Out::annotating) out_.note(begin, Part::type_info, "field " + f.name);
      if (!f.signature.empty()) type_string(f.signature);
    }
    tag(TC_ENDBLOCKDATA, "(no class annotation)");
    tag(TC_NULL, "(no superclass)");
  }

  // A field's type string: java.io interns them, so each is written once per stream.
  void type_string(const std::string& s) {
    if (const std::uint32_t* h = strings_.find(s)) {
      reference(*h, s);
      return;
    }
    strings_.add(s, kBaseWireHandle + next_handle_);
    string(s, "type");
  }

  void string(const std::string& s, std::string_view label) {
    new_handle();
    std::size_t begin = out_.size();
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    std::size_t n = s.size();
    bool plain = n <= 0xffff && plain_ascii(p, n);
    if (!plain) n = mutf8_length(s);
    std::byte* w;
    if (n <= 0xffff) {
      w = out_.extend(3 + n);
      w[0] = std::byte{TC_STRING};
      w[1] = static_cast<std::byte>(n >> 8);
      w[2] = static_cast<std::byte>(n);
      w += 3;
    } else {
      w = out_.extend(9 + n);
      w[0] = std::byte{TC_LONGSTRING};
      std::uint64_t len = big_endian(static_cast<std::uint64_t>(n));
      std::memcpy(w + 1, &len, 8);
      w += 9;
    }
    if (plain)
      std::memcpy(w, s.data(), n);
    else
      mutf8_encode(s, w);
    if constexpr (Out::annotating) {
      std::size_t len_end = begin + (n <= 0xffff ? 3 : 9);
      out_.note_range(begin, begin + 1, Part::tag, n <= 0xffff ? "TC_STRING" : "TC_LONGSTRING");
      out_.note_range(begin + 1, len_end, Part::length, std::string(label) + " length");
      out_.note_range(len_end, out_.size(), Part::value, label);
    }
  }

  template <class M>
  void array(const M& v, std::string_view label) {
    using E = std::conditional_t<Blob<M>, std::int8_t, typename M::value_type>;
    if (v.size() > 0x7fffffffu) throw std::length_error("java: array longer than 2^31-1");
    out_.enter(label);
    tag(TC_ARRAY, "");
    class_desc<M>();
    new_handle();
    std::size_t begin = out_.size();
    put(static_cast<std::uint32_t>(v.size()));
    if constexpr (Out::annotating) out_.note(begin, Part::length, std::string(label) + " length");
    begin = out_.size();
    if constexpr (Scalar<E> && !std::is_same_v<M, std::vector<bool>>) {
      using U = bits_t<E>;
      const std::size_t n = v.size();
      std::byte* w = out_.extend(n * sizeof(U));
      if constexpr (std::is_arithmetic_v<E> && !std::is_same_v<E, bool> && sizeof(E) == sizeof(U)) {
        const auto* src = reinterpret_cast<const unsigned char*>(v.data());
        for (std::size_t k = 0; k < n; ++k) {
          U b;
          std::memcpy(&b, src + k * sizeof(U), sizeof(U));
          b = big_endian(b);
          std::memcpy(w + k * sizeof(U), &b, sizeof(U));
        }
      } else {
        for (std::size_t k = 0; k < n; ++k) {
          U b = big_endian(to_bits(static_cast<E>(v[k])));
          std::memcpy(w + k * sizeof(U), &b, sizeof(U));
        }
      }
      out_.note(begin, Part::value, label);
    } else {
      for (std::size_t k = 0; k < v.size(); ++k)
        field(static_cast<const E&>(v[k]), label);
    }
    out_.leave();
  }

  struct Shared {
    std::uint32_t handle;
    const void* type;
  };

  Out& out_;
  std::uint32_t next_handle_ = 0;
  HandleTable classes_;                              // class name -> handle of its descriptor
  HandleTable strings_;                              // type string -> handle
  std::unordered_map<const void*, Shared> objects_;  // shared objects written
};

}  // namespace nexo::wire::java::detail
