// Internal to group/'s packet codec (packet.cpp, packet_membership.cpp): the
// pieces both files use. Not installed, not for other code.
#pragma once

#include <string>
#include <string_view>

#include "nexo/base/big_endian.hpp"
#include "nexo/base/error.hpp"
#include "nexo/group/packet.hpp"

namespace nexo::group::codec {

using Reader = BigEndianReader;
using Writer = BigEndianWriter;

// invalid_argument "group <type> packet: <what>".
Error invalid(std::string_view type, std::string what);
// The checks every encoder makes of the header (its type, sender nonzero).
Result<void> check_header(const Header& header, Type type);
// Sizes `out` to `size` bytes and writes the header; the body follows.
Writer start(Bytes& out, const Header& header, std::size_t size);
// Writes the CRC of everything before it, in the last kCrcSize bytes.
void seal(Bytes& out, const Writer& writer);
// Decodes the body of a membership type (JOIN .. STATE) into out.body.
ParseError decode_membership(Type type, Reader body, Packet& out) noexcept;

}  // namespace nexo::group::codec
