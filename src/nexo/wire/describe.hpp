// One description of a C++ type, from which every format of wire/ marshals it.
//
// A type is described once, by a constexpr function found by argument-dependent
// lookup (declare it in the type's namespace, next to the type):
//
//   struct Person {
//     std::string name;
//     std::string place;
//     std::int32_t year = 0;
//   };
//   constexpr auto nexo_wire_describe(const Person*) {
//     return nexo::wire::describe<Person>("Person")
//         .field("name", &Person::name)            // protobuf field 1 (its position)
//         .field("place", &Person::place)          // 2
//         .field("year", &Person::year, 3)         // an explicit protobuf field number
//         .java("Person", 1L);                     // Java class name, serialVersionUID
//   }
//
// The description is a compile-time value: the encoders and decoders walk it with
// for_each_field<T>() and, after inlining, are the code one would write by hand for
// the type. Nothing is registered at run time and nothing is looked up by name while
// encoding.
//
// Field options (the fourth argument of field()) say how a field is represented where
// a format offers a choice:
//   sint      protobuf sint32/sint64 (zigzag varint) instead of int32/int64
//   fixed     protobuf fixed32/fixed64/sfixed32/sfixed64 instead of a varint
//   attribute XML: an attribute of the type's element instead of a child element
//
// What a field may be (the value types wire/ knows):
//   bool, std::int8_t ... std::uint64_t, float, double, enums (as their underlying
//   integer), std::string, Bytes (std::vector<std::byte>), std::vector<T>,
//   std::array<T, N>, std::optional<T>, std::map<K, V> with integer or string keys,
//   and nested described types. Java serialization additionally maps
//   std::shared_ptr<T> / std::weak_ptr<T> of described types to object references
//   (shared objects and cycles); see java.hpp.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace nexo::wire {

// How a field is represented where a format offers a choice (bit set).
enum FieldOption : std::uint8_t {
  none = 0,
  sint = 1,       // protobuf: zigzag varint (sint32, sint64)
  fixed = 2,      // protobuf: fixed32/fixed64/sfixed32/sfixed64
  attribute = 4,  // XML: an attribute rather than a child element
};
constexpr FieldOption operator|(FieldOption a, FieldOption b) {
  return static_cast<FieldOption>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}

// One field: its name (JSON key, XML element, Java field name), where it lives in
// the C++ object, its protobuf field number and its options.
template <class C, class M>
struct Field {
  using owner_type = C;
  using value_type = M;

  std::string_view name;
  M C::*member;
  std::uint32_t number;  // protobuf field number, 1 ... 2^29-1
  FieldOption options;

  constexpr bool has(FieldOption o) const { return (options & o) != 0; }
  constexpr const M& get(const C& object) const { return object.*member; }
  constexpr M& get(C& object) const { return object.*member; }
};

// The Java side of a type: the class name java.io sees ("pkg.Person") and the
// class's serialVersionUID. Empty name: the type is not a Java class.
struct JavaClass {
  std::string_view name;
  std::int64_t serial_version_uid = 0;
};

// A described type: its name and its fields, in declaration order.
template <class T, class... Fs>
struct Description {
  using type = T;
  static constexpr std::size_t size = sizeof...(Fs);

  std::string_view name;
  std::tuple<Fs...> fields;
  JavaClass java_class{};

  // Adds a field. `number` 0 takes the field's position (1, 2, 3, ...).
  template <class M>
  constexpr Description<T, Fs..., Field<T, M>> field(std::string_view field_name, M T::*member,
                                                     std::uint32_t number = 0,
                                                     FieldOption options = none) const {
    return {name,
            std::tuple_cat(
                fields, std::make_tuple(Field<T, M>{
                            field_name, member,
                            number == 0 ? static_cast<std::uint32_t>(size + 1) : number, options})),
            java_class};
  }
  template <class M>
  constexpr auto field(std::string_view field_name, M T::*member, FieldOption options) const {
    return field(field_name, member, 0, options);
  }

  // Names the Java class this type is serialized as, with its serialVersionUID.
  constexpr Description java(std::string_view class_name, std::int64_t serial_version_uid) const {
    return {name, fields, JavaClass{class_name, serial_version_uid}};
  }
};

// Starts a description of T (see the top of this file).
template <class T>
constexpr Description<T> describe(std::string_view name) {
  return {name, {}, {}};
}

// ---------------------------------------------------------------------------
// Looking descriptions up.

template <class T>
concept Described = requires(const T* p) {
  nexo_wire_describe(p);
};

// The description of T, a compile-time constant.
template <Described T>
inline constexpr auto description_of = nexo_wire_describe(static_cast<const T*>(nullptr));

template <Described T>
inline constexpr std::size_t field_count = description_of<T>.size;

// The I-th field of T, a compile-time constant.
template <Described T, std::size_t I>
inline constexpr auto field_of = std::get<I>(description_of<T>.fields);

// Calls fn(std::integral_constant<size_t, I>) for each field of T in order; inside,
// `constexpr auto f = field_of<T, decltype(i)::value>;` names the field.
template <Described T, class Fn>
constexpr void for_each_field(Fn&& fn) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (fn(std::integral_constant<std::size_t, I>{}), ...);
  }
  (std::make_index_sequence<field_count<T>>{});
}

// As for_each_field, but fn returns bool and the walk stops at the first false;
// returns whether every call returned true (decoders stop at the first error).
template <Described T, class Fn>
constexpr bool all_fields(Fn&& fn) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return (fn(std::integral_constant<std::size_t, I>{}) && ...);
  }
  (std::make_index_sequence<field_count<T>>{});
}

// ---------------------------------------------------------------------------
// Enum value names, for the formats that write an enum by name (JSON's proto3 mapping).
// Optional: an enum without them is written as its integer everywhere. Declared, like a
// description, next to the enum:
//
//   enum class Color : std::int32_t { red = 0, green = 1, blue = 2 };
//   constexpr auto nexo_wire_enum(const Color*) {
//     return nexo::wire::enum_names<Color>({{"RED", Color::red}, {"GREEN", Color::green},
//                                           {"BLUE", Color::blue}});
//   }

template <class E>
struct EnumName {
  std::string_view name;
  E value;
};

template <class E, std::size_t N>
constexpr std::array<EnumName<E>, N> enum_names(const EnumName<E> (&names)[N]) {
  std::array<EnumName<E>, N> a{};
  for (std::size_t k = 0; k < N; ++k)
    a[k] = names[k];
  return a;
}

template <class E>
concept NamedEnum = std::is_enum_v<E> && requires(const E* p) {
  nexo_wire_enum(p);
};

template <NamedEnum E>
inline constexpr auto enum_names_of = nexo_wire_enum(static_cast<const E*>(nullptr));

// The name of v, or an empty view when v has none.
template <NamedEnum E>
constexpr std::string_view enum_name(E v) {
  for (const auto& n : enum_names_of<E>)
    if (n.value == v) return n.name;
  return {};
}

// The value named `name`; false when no value has that name.
template <NamedEnum E>
constexpr bool enum_value(std::string_view name, E& v) {
  for (const auto& n : enum_names_of<E>)
    if (n.name == name) {
      v = n.value;
      return true;
    }
  return false;
}

// ---------------------------------------------------------------------------
// The value categories every format distinguishes.

using ByteBuffer = std::vector<std::byte>;

template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};

template <class T>
struct is_std_array : std::false_type {};
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
struct is_map : std::false_type {};
template <class K, class V, class C, class A>
struct is_map<std::map<K, V, C, A>> : std::true_type {};

template <class T>
struct is_shared_ptr : std::false_type {};
template <class T>
struct is_shared_ptr<std::shared_ptr<T>> : std::true_type {};

template <class T>
struct is_weak_ptr : std::false_type {};
template <class T>
struct is_weak_ptr<std::weak_ptr<T>> : std::true_type {};

// bool, the fixed-width integers (char too), float, double.
template <class T>
concept Arithmetic = std::is_arithmetic_v<T>;
template <class T>
concept Integer = std::is_integral_v<T> && !std::is_same_v<T, bool>;
template <class T>
concept Enum = std::is_enum_v<T>;
// A scalar: one fixed-size value (what protobuf may pack and CDR may copy in bulk).
template <class T>
concept Scalar = Arithmetic<T> || Enum<T>;

template <class T>
concept String = std::is_same_v<T, std::string>;
template <class T>
concept Blob = std::is_same_v<T, ByteBuffer>;
// A sequence of elements: std::vector (but not the byte buffer) or std::array.
template <class T>
concept Vector = is_vector<T>::value && !Blob<T>;
template <class T>
concept Array = is_std_array<T>::value;
template <class T>
concept Optional = is_optional<T>::value;
template <class T>
concept Map = is_map<T>::value &&(Integer<typename T::key_type> || String<typename T::key_type>);
template <class T>
concept SharedPtr = is_shared_ptr<T>::value;
template <class T>
concept WeakPtr = is_weak_ptr<T>::value;

// The integer an enum is carried as.
template <class T>
using carried_t = typename std::conditional_t<std::is_enum_v<T>, std::underlying_type<T>,
                                              std::type_identity<T>>::type;

// True for every type wire/ can marshal (checked where a codec is instantiated, so a
// field of an unsupported type is a compile error naming the type).
template <class T>
constexpr bool is_wire_type() {
  if constexpr (Scalar<T> || String<T> || Blob<T>) {
    return true;
  } else if constexpr (Vector<T> || Array<T> || Optional<T>) {
    return is_wire_type<typename T::value_type>();
  } else if constexpr (is_map<T>::value) {
    return Map<T> && is_wire_type<typename T::mapped_type>();
  } else if constexpr (SharedPtr<T> || WeakPtr<T>) {
    return Described<typename T::element_type>;
  } else {
    return Described<T>;
  }
}

}  // namespace nexo::wire
