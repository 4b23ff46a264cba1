// The reader of java.hpp (see the byte layout and the reading policies there). Internal.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nexo/wire/decode.hpp"
#include "nexo/wire/java_types.hpp"

namespace nexo::wire::java::detail {

// Reads one stream. Keeps every handle the stream assigns (class descriptors, strings,
// arrays, objects) so that TC_REFERENCE can be resolved, and the class descriptors
// with the plan that maps their fields to the described ones.
class Decoder {
 public:
  Decoder(std::span<const std::byte> bytes, const Limits& limits) : st_(bytes, limits) {}

  DecodeState& state() { return st_; }

  bool header();
  bool finish();

  template <class T>
  bool root(T& v) {
    if constexpr (Described<T>) {
      if (st_.in.has(1) && st_.in.peek() == TC_NULL)
        return st_.fail("the stream holds null, not an object of class " +
                        std::string(java_name<T>()));
      return read_ref(v, java_name<T>());
    } else {
      return read_ref(v, java_name<typename T::element_type>());
    }
  }

 private:
  enum class Kind : std::uint8_t { class_desc, string, array, object, skipped };
  struct Handle {
    Kind kind;
    std::uint32_t owner;  // shared objects: 1 + index in owners_; else 0
    const void* type;     // objects and arrays: type_key of the C++ type
    std::size_t offset;   // class descriptors: index in classes_; strings: bytes
    std::size_t length;   // strings
  };
  struct ClassDesc {
    std::size_t name_offset = 0;
    std::size_t name_length = 0;
    std::size_t field_begin = 0;  // in fields_
    std::size_t field_count = 0;
    const void* plan_for = nullptr;      // the C++ type the fields were matched to
    const ClassInfo* checked = nullptr;  // the class its name was last found to be
    bool identity = false;               // the stream's fields are exactly nexo's, in order
  };
  struct StreamField {
    char code;
    std::size_t name_offset;
    std::size_t name_length;
    int plan;  // index of the described field, or -1 (skipped)
  };

  // --- Handles, class descriptors, strings (java.cpp).
  bool new_handle(const Handle& handle) {
    if (handles_.size() >= st_.limits.max_handles) [[unlikely]]
      return st_.fail_limit("handle count", "max_handles", st_.limits.max_handles);
    Handle& h = handles_.emplace_back();
    h.kind = handle.kind;  // member by member: a whole-struct copy stalls store forwarding
    h.owner = handle.owner;
    h.type = handle.type;
    h.offset = handle.offset;
    h.length = handle.length;
    return true;
  }
  // need(), with the common case inlined.
  bool need(std::size_t n, std::string_view what) { return st_.in.has(n) || st_.need(n, what); }
  bool read_handle(std::size_t& index, std::size_t at);
  bool read_class_desc(const ClassInfo& expect, std::size_t& cls);
  bool parse_class_desc(const ClassInfo* expect, std::size_t& cls);
  bool parse_fields(std::size_t cls, std::string_view class_name);
  bool skip_annotation(std::string_view class_name);
  bool read_type_string();
  // `charged`: the string is part of the value (max_decoded), not read into scratch.
  bool read_string(std::string& s, unsigned char tag, std::string_view label,
                   bool charged = true);
  bool read_string_reference(std::string& s, std::size_t index, std::size_t at,
                             std::string_view label);
  bool text(const unsigned char* p, std::size_t n, std::string& s, std::size_t at);
  bool skip_field(const StreamField& field, std::size_t cls);
  bool skip_object(std::string_view field_name, std::size_t cls);
  bool unexpected(unsigned char tag, std::size_t at, std::string_view label,
                  std::string_view expected);
  bool wrong_reference(std::size_t index, std::size_t at, std::string_view label,
                       std::string_view why);
  bool match_field(std::size_t cls, StreamField& field, const ClassInfo& info);
  std::string class_name(std::size_t cls) const;
  std::string_view bytes_at(std::size_t offset, std::size_t n) const {
    return {reinterpret_cast<const char*>(st_.in.begin()) + offset, n};
  }

  // --- Values.
  template <class M>
  bool field(M& m, std::string_view label) {
    if constexpr (Scalar<M>) {
      using U = bits_t<M>;
      if (!need(sizeof(U), label)) return false;
      U b;
      st_.in.copy(&b, sizeof(U));
      m = from_bits<M>(big_endian(b));
      return true;
    } else {
      return read_ref(m, label);
    }
  }

  template <class M>
  static std::string expected_text() {
    if constexpr (String<M>)
      return "a String";
    else if constexpr (Optional<M>)
      return expected_text<typename M::value_type>();
    else if constexpr (Blob<M> || Vector<M> || Array<M>)
      return "an array " + class_info<M>().name;
    else if constexpr (SharedPtr<M> || WeakPtr<M>)
      return "an object of class " + std::string(java_name<typename M::element_type>());
    else
      return "an object of class " + std::string(java_name<M>());
  }

  // Whatever may stand where an object is expected: a new string, array or object of
  // the expected kind, TC_NULL or TC_REFERENCE.
  template <class M>
  bool read_ref(M& m, std::string_view label) {
    (void)type_code<M>();
    if (!need(1, label)) return false;
    std::size_t at = st_.in.offset();
    unsigned char tag = st_.in.peek();
    if constexpr (Optional<M>) {
      if (tag == TC_NULL) {
        st_.in.skip(1);
        m.reset();
        return true;
      }
      if (!m) m.emplace();
      return read_ref(*m, label);
    } else {
      st_.in.skip(1);
      if (tag == TC_NULL) {
        reset(m);
        return true;
      }
      if (tag == TC_REFERENCE) return read_reference(m, at, label);
      if constexpr (String<M>) {
        if (tag == TC_STRING || tag == TC_LONGSTRING) return read_string(m, tag, label);
      } else if constexpr (Blob<M> || Vector<M> || Array<M>) {
        if (tag == TC_ARRAY) return read_array(m, label);
      } else if constexpr (SharedPtr<M> || WeakPtr<M>) {
        if (tag == TC_OBJECT) {
          using E = typename M::element_type;
          if (!st_.charge(1, sizeof(E) + kSharedOverhead, label, at)) return false;
          auto p = std::make_shared<E>();
          m = p;
          return read_object(*p, std::shared_ptr<void>(p));
        }
      } else {
        if (tag == TC_OBJECT) return read_object(m, nullptr);
      }
      return unexpected(tag, at, label, expected_text<M>());
    }
  }

  template <class M>
  static void reset(M& m) {
    if constexpr (String<M> || Blob<M> || Vector<M>)
      m.clear();
    else if constexpr (SharedPtr<M> || WeakPtr<M>)
      m.reset();
    else
      m = M{};
  }

  template <class M>
  bool read_reference(M& m, std::size_t at, std::string_view label) {
    std::size_t index;
    if (!read_handle(index, at)) return false;
    if constexpr (String<M>) {
      return read_string_reference(m, index, at, label);
    } else if constexpr (SharedPtr<M> || WeakPtr<M>) {
      using E = typename M::element_type;
      const Handle& h = handles_[index];
      if (h.kind != Kind::object || h.type != &type_key<E> || h.owner == 0)
        return wrong_reference(index, at, label, expected_text<M>());
      m = std::static_pointer_cast<E>(owners_[h.owner - 1]);
      return true;
    } else if constexpr (Described<M>) {
      return wrong_reference(index, at, label,
                             "a value (nexo holds it by value; a shared object needs "
                             "std::shared_ptr)");
    } else {
      return wrong_reference(index, at, label, "a value (nexo holds arrays by value)");
    }
  }

  template <class T>
  bool read_object(T& v, std::shared_ptr<void> owner) {
    std::size_t cls;
    if (!read_class_desc(class_info<T>(), cls) || !plan<T>(cls)) return false;
    std::uint32_t owner_index = 0;
    if (owner) {
      owners_.push_back(std::move(owner));
      owner_index = static_cast<std::uint32_t>(owners_.size());
    }
    if (!new_handle(Handle{Kind::object, owner_index, &type_key<T>, 0, 0})) return false;
    if (!st_.enter()) return false;
    bool ok = class_data(cls, v);
    st_.leave();
    return ok;
  }

  // Matches the descriptor's fields to T's, once per descriptor.
  template <class T>
  bool plan(std::size_t cls) {
    ClassDesc& cd = classes_[cls];
    if (cd.plan_for == &type_key<T>) return true;
    if (cd.plan_for != nullptr)
      return st_.fail("class " + class_name(cls) + " is read as two different C++ types");
    const ClassInfo& info = class_info<T>();
    bool identity = cd.field_count == field_count<T>;
    for (std::size_t k = 0; k < cd.field_count; ++k) {
      StreamField& f = fields_[cd.field_begin + k];
      if (!match_field(cls, f, info)) return false;
      if constexpr (field_count<T> != 0)
        identity = identity && f.plan == static_cast<int>(java_order<T>[k]);
    }
    cd.plan_for = &type_key<T>;
    cd.identity = identity;
    return true;
  }

  template <class T>
  bool class_data(std::size_t cls, T& v) {
    if (classes_[cls].identity)
      return fields_in_order(v, std::make_index_sequence<field_count<T>>{});
    std::array<bool, field_count<T>> seen{};
    std::size_t begin = classes_[cls].field_begin;
    std::size_t count = classes_[cls].field_count;
    for (std::size_t k = 0; k < count; ++k) {
      StreamField f = fields_[begin + k];  // a copy: fields_ grows while reading
      if (f.plan < 0) {
        if (!skip_field(f, cls)) return false;
        continue;
      }
      seen[static_cast<std::size_t>(f.plan)] = true;
      if (!field_at(static_cast<std::size_t>(f.plan), v)) return false;
    }
    [[maybe_unused]] static const T defaults{};
    for_each_field<T>([&](auto i) {
      constexpr auto f = field_of<T, decltype(i)::value>;
      if (!seen[i]) f.get(v) = f.get(defaults);  // missing from the stream: default
    });
    return true;
  }

  template <class T, std::size_t... I>
  bool fields_in_order(T& v, std::index_sequence<I...>) {
    return (field(field_of<T, java_order<T>[I]>.get(v), field_of<T, java_order<T>[I]>.name) && ...);
  }

  template <class T>
  bool field_at(std::size_t index, T& v) {
    bool ok = false;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (void)((index == I && (ok = field(field_of<T, I>.get(v), field_of<T, I>.name), true)) || ...);
    }
    (std::make_index_sequence<field_count<T>>{});
    return ok;
  }

  template <class M>
  bool read_array(M& m, std::string_view label) {
    std::size_t cls;
    if (!read_class_desc(class_info<M>(), cls)) return false;
    if (!new_handle(Handle{Kind::array, 0, &type_key<M>, 0, 0})) return false;
    if (!need(4, "array length")) return false;
    std::size_t at = st_.in.offset();
    std::uint32_t raw;
    st_.in.copy(&raw, 4);
    auto n = static_cast<std::int32_t>(big_endian(raw));
    if (n < 0) return st_.fail_at(at, "array length " + std::to_string(n) + " is negative");
    auto count = static_cast<std::size_t>(n);
    if constexpr (Array<M>) {
      if (count != std::tuple_size_v<M>)
        return st_.fail_at(at, "array " + std::string(label) + " has " + std::to_string(count) +
                                   " elements, nexo's std::array holds " +
                                   std::to_string(std::tuple_size_v<M>));
    }
    if constexpr (Blob<M>) {
      if (!st_.check_count(count, 1, label, at) || !st_.charge(count, 1, label, at)) return false;
      m.resize(count);
      st_.in.copy(m.data(), count);
      return true;
    } else {
      using E = typename M::value_type;
      if constexpr (Scalar<E>) {
        using U = bits_t<E>;
        if (!st_.check_count(count, sizeof(U), label, at)) return false;
        if constexpr (!Array<M>) {
          if (!st_.charge(count, sizeof(E), label, at)) return false;
          m.resize(count);
        }
        if constexpr (std::is_arithmetic_v<E> && !std::is_same_v<E, bool> &&
                      sizeof(E) == sizeof(U)) {
          // One copy, then the byte order in place.
          auto* p = reinterpret_cast<unsigned char*>(m.data());
          st_.in.copy(p, count * sizeof(U));
          if constexpr (sizeof(U) > 1 && std::endian::native == std::endian::little) {
            for (std::size_t k = 0; k < count; ++k) {
              U b;
              std::memcpy(&b, p + k * sizeof(U), sizeof(U));
              b = big_endian(b);
              std::memcpy(p + k * sizeof(U), &b, sizeof(U));
            }
          }
        } else {
          for (std::size_t k = 0; k < count; ++k) {
            U b;
            st_.in.copy(&b, sizeof(U));
            m[k] = from_bits<E>(big_endian(b));
          }
        }
        return true;
      } else {
        if (!st_.check_count(count, 1, label, at)) return false;
        if constexpr (!Array<M>) {
          if (!st_.charge(count, sizeof(E), label, at)) return false;
          m.resize(count);
        }
        if (!st_.enter()) return false;
        bool ok = true;
        for (std::size_t k = 0; k < count && ok; ++k)
          ok = read_ref(m[k], label);
        st_.leave();
        return ok;
      }
    }
  }

  DecodeState st_;
  std::vector<Handle> handles_;
  std::vector<std::shared_ptr<void>> owners_;  // the shared objects, alive while decoding
  std::vector<ClassDesc> classes_;
  std::vector<StreamField> fields_;
  std::size_t copied_ = 0;  // bytes of strings copied through references
  std::string scratch_;
};

}  // namespace nexo::wire::java::detail
