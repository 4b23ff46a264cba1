// The Protocol Buffers wire format (proto3), byte-for-byte as libprotobuf writes it.
//
// A message is a run of fields, each a key and a value, in ascending field-number
// order (the description's numbers, sorted at compile time):
//
//   key       varint (field_number << 3 | wire_type)
//   wire type 0 VARINT  little-endian base-128, 7 bits a byte, high bit "more"; <= 10 bytes
//             1 I64     8 bytes little-endian
//             2 LEN     varint length, then that many bytes
//             3 SGROUP / 4 EGROUP   (deprecated groups: skipped when unknown)
//             5 I32     4 bytes little-endian
//
// The value kinds of describe.hpp, and the .proto type each stands for:
//
//   bool                        bool       VARINT 0 or 1
//   int8, int16, int32          int32      VARINT, sign-extended to 64 bits (-1 is 10 bytes)
//   uint8, uint16, uint32       uint32     VARINT
//   int64 / uint64              int64 / uint64   VARINT
//     option sint               sint32 / sint64  VARINT of the zigzag value (n<<1 ^ n>>63)
//     option fixed              fixed32/64, sfixed32/64  I32 / I64 (8-, 16-bit types: 32)
//   float / double              float / double   I32 / I64 (IEEE 754 bits)
//   enum                        enum       VARINT of its integer (int32 semantics)
//   std::string                 string     LEN, UTF-8 (checked on decode)
//   Bytes                       bytes      LEN
//   described type              message    LEN, its fields; always written (empty: 2 bytes)
//   vector/array of scalars     repeated, packed: one LEN of the values back to back
//   vector/array of others      repeated string/bytes/message: one field per element
//   optional<T>                 proto3 `optional T`: written when present, even if zero
//   map<K, V>                   map<K, V>: one LEN entry per pair {key = 1, value = 2},
//                               in key order (libprotobuf's deterministic order), both
//                               key and value always written
//
// Proto3 default omission: a plain scalar equal to zero (a float or double whose bits
// are zero: -0.0 is written), an empty string, bytes or repeated field is not written.
//
// Decoding (nexo's policies, after the protobuf spec):
//   * a field missing from the input is zero/empty; decoding into a used object resets it
//     (the storage of strings, vectors and repeated messages is reused);
//   * unknown fields of every wire type are skipped, groups included (depth-limited);
//   * a repeated scalar accepts packed and unpacked occurrences, concatenated; a std::array
//     takes at most N values per message (the rest stay zero), more is an error;
//   * a singular scalar or string occurring twice: the last wins; a message occurring
//     twice: the second merges into the first; a map key occurring twice: the last wins;
//   * errors, each with its byte offset: a known field with the wrong wire type, a varint
//     of more than 10 bytes, truncation, a length past the end of its message, field
//     number 0 or above 2^29-1, wire types 6 and 7, an end-group without its start, a
//     value out of range of a narrow C++ type (an int8 field reading 300), invalid UTF-8
//     in a string, and every broken limit (depth, string length, element count, size).
#pragma once

#include <span>
#include <utility>

#include "nexo/base/result.hpp"
#include "nexo/wire/buffer.hpp"
#include "nexo/wire/decode.hpp"
#include "nexo/wire/describe.hpp"
#include "nexo/wire/proto_decoder.hpp"
#include "nexo/wire/proto_encoder.hpp"

namespace nexo::wire::proto {

using detail::kMaxFieldNumber;

// Appends v's fields to `out` in the protobuf wire format (a top-level message has no
// length of its own: frame it if it travels with others). Deterministic: equal values
// give equal bytes. Never fails (allocation failure throws std::bad_alloc).
template <Described T, class Out>
void encode(const T& v, Out& out) {
  out.enter(description_of<T>.name);
  detail::Encoder<Out>(out).body(v);
  out.leave();
}

// Reads v from `bytes`, one whole message. Fields absent from the input are reset, so a
// used object may be passed (its storage is reused). On error v holds what was read so
// far; the error says "protobuf: at byte N: <reason>".
template <Described T>
Result<void> decode(std::span<const std::byte> bytes, T& v, const Limits& limits = {}) {
  detail::Decoder d(bytes, limits);
  if (!d.state().check_size() || !d.message(v, true)) return d.state().error.to_error("protobuf");
  return ok();
}

template <Described T>
Result<T> decode(std::span<const std::byte> bytes, const Limits& limits = {}) {
  T v{};
  if (auto r = decode(bytes, v, limits); !r) return std::move(r).error();
  return v;
}

}  // namespace nexo::wire::proto
