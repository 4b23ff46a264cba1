// Java object serialization: the Object Serialization Stream Protocol of java.io
// (ObjectOutputStream / ObjectInputStream, stream version 5).
//
// The byte layout (all numbers big-endian; "utf" is a u16 length and modified UTF-8):
//
//   stream       AC ED 00 05, then one object (nexo: exactly one per stream)
//   object       73 TC_OBJECT  classDesc  [new handle]  field values of the class
//   classDesc    72 TC_CLASSDESC  utf class name  i64 serialVersionUID  [new handle]
//                   u8 flags (02 SC_SERIALIZABLE)  u16 field count  fields
//                   78 TC_ENDBLOCKDATA (no class annotation)  70 TC_NULL (no superclass)
//              | 71 TC_REFERENCE  i32 handle of a classDesc written before
//   field        u8 type code  utf name  [for L and [: the type string, a String object]
//                   codes: B byte  C char  D double  F float  I int  J long  S short
//                          Z boolean  L object  [ array
//   values       primitives first, sorted by name, then object fields sorted by name
//                (the descriptor's order); a primitive is its bytes, an object field is
//                an object, a string, an array, TC_NULL or TC_REFERENCE
//   string       74 TC_STRING  utf  [new handle]  |  7C TC_LONGSTRING  i64 length  bytes
//   array        75 TC_ARRAY  classDesc ("[D", "[LRecord;")  [new handle]  i32 count
//                   elements (primitives: their bytes; otherwise objects)
//   null         70 TC_NULL
//   reference    71 TC_REFERENCE  i32 handle (0x7E0000 + n: the n-th handle assigned)
//
// Handles number class descriptors, strings, arrays and objects in the order they are
// written, from 0x7E0000. Array classes carry the serialVersionUID the JVM computes
// (SHA-1 of the name and modifiers, for a public component class); java.io does not
// check it when reading.
//
// The mapping from a description (the type's .java(class, serialVersionUID) names its
// Java class, which must extend Object directly and have no writeObject method):
//   bool Z; int8/uint8 B; int16/uint16 S; int32/uint32 I; int64/uint64 J (an unsigned
//   integer travels as the Java type of its width, same bits: uint32 4000000000 is int
//   -294967296 in Java); char16_t C; float F; double D; an enum I (J if 8 bytes);
//   std::string java.lang.String (modified UTF-8; TC_LONGSTRING above 65535 bytes);
//   Bytes byte[]; std::vector<T> and std::array<T, N> a Java array of T ([I, [D,
//   [Ljava.lang.String;, [LRecord;, [[I); a described type an object of its class;
//   std::shared_ptr<T> / std::weak_ptr<T> a nullable object reference with identity
//   (an object written twice is a TC_REFERENCE the second time; the reader gives the
//   same shared_ptr for the same handle, so shared objects stay shared and cycles
//   close); std::optional<T> of a string, array or described type a nullable reference.
//   Not supported, at compile time: std::map (java.util.HashMap writes custom data) and
//   std::optional of a primitive (a Java primitive cannot be null). supports<T>() says
//   whether a type can go to Java.
//
// Reading policies:
//   - only classes that were described are created: a descriptor naming any other class
//     than the one expected at that point is refused, naming it; a serialVersionUID
//     that differs is refused; array classes are matched by name only (as java.io does);
//   - stream fields are matched to described fields by name and type code; extra
//     stream fields are skipped (primitives, nulls, strings, primitive arrays and
//     references only; an object there is refused, naming its class); described
//     fields missing from the stream get their defaults;
//   - class annotations may hold block data only (skipped); a superclass descriptor must
//     be TC_NULL; SC_WRITE_METHOD, SC_EXTERNALIZABLE and enum classes are refused, as
//     are TC_RESET, TC_EXCEPTION, TC_CLASS, TC_ENUM and proxy class descriptors;
//   - TC_NULL where C++ holds a value (not optional, not a pointer) reads as the default
//     value (empty string, empty vector, default object);
//   - TC_REFERENCE is accepted wherever an object, string or array may appear; a
//     reference to an object must land in a shared_ptr/weak_ptr of its type, and a
//     reference to an array is refused (C++ holds arrays by value, and copying them
//     would let a small input allocate without bound); strings are copied, at most
//     max_bytes in total;
//   - a weak_ptr keeps nothing alive: an object reachable only through weak_ptr fields
//     is gone once decoding ends;
//   - strings must be well-formed modified UTF-8 (raw 00 bytes are accepted as java.io
//     does; a lone surrogate is refused, UTF-8 cannot hold it);
//   - limits: max_handles, max_depth (checked before each nested object or array, so a
//     million-deep stream ends in an error, not a stack overflow), max_elements,
//     max_string, max_bytes.
// Writing: a std::string that is not valid UTF-8 has each bad byte written as U+FFFD.
#pragma once

#include <span>

#include "nexo/base/result.hpp"
#include "nexo/wire/buffer.hpp"
#include "nexo/wire/decode.hpp"
#include "nexo/wire/describe.hpp"
#include "nexo/wire/java_decoder.hpp"
#include "nexo/wire/java_encoder.hpp"
#include "nexo/wire/java_types.hpp"

namespace nexo::wire::java {

// Appends v to `out` as one Java serialization stream (header and one object). With a
// shared_ptr root, references back to the root become TC_REFERENCE. Never fails
// (allocation failure throws std::bad_alloc; an array of more than 2^31-1 elements
// throws std::length_error).
template <Root T, class Out>
void encode(const T& v, Out& out) {
  detail::Encoder<Out> e(out);
  e.header();
  e.root(v);
}

// Reads v from `bytes`, one Java serialization stream holding one object of v's class;
// the whole input must be that stream. On error v holds what was read so far (a graph
// with shared_ptr cycles must then be broken as after a success) and the error reads
// "java: at byte N: <reason>". Decode a graph whose objects refer back to the root into
// a std::shared_ptr<T>.
template <Root T>
Result<void> decode(std::span<const std::byte> bytes, T& v, const Limits& limits = {}) {
  detail::Decoder d(bytes, limits);
  if (!d.state().check_size() || !d.header() || !d.root(v) || !d.finish())
    return d.state().error.to_error("java");
  return ok();
}

template <Root T>
Result<T> decode(std::span<const std::byte> bytes, const Limits& limits = {}) {
  T v{};
  if (auto r = decode(bytes, v, limits); !r) return std::move(r).error();
  return v;
}

}  // namespace nexo::wire::java
