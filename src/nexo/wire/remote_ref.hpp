// Remote object references: what a client needs to invoke an object in another process.
//
// The chapter's layout (Coulouris et al., figure 4.13), one 32-bit word each:
//
//   Internet address | port number | time | object number | interface of remote object
//
// Internet address and port name the process that holds the object; time (of the
// process's creation, seconds since 1970) keeps a reference unique when a new process
// later reuses the same address and port; object number picks the object inside the
// process; the interface names the methods it offers. A RemoteObjectRef is described
// like every other type, so it marshals in CDR (and every other format); nexo keeps the
// address as a 4-byte (IPv4) or 16-byte (IPv6) octet sequence, so IPv6 processes can be
// named too.
//
// Text form (to_string / parse), for logs and the command line:
//   ref:127.0.0.1:1099/1764000000/7/Person
//   ref:[::1]:1099/1764000000/7/Person
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "nexo/base/result.hpp"
#include "nexo/wire/describe.hpp"

namespace nexo::wire {

struct RemoteObjectRef {
  ByteBuffer address;      // 4 bytes (IPv4) or 16 bytes (IPv6), network order
  std::uint32_t port = 0;  // 0 ... 65535
  std::uint32_t time = 0;  // creation time of the holding process, seconds since 1970
  std::uint32_t object_number = 0;
  std::string interface_name;  // "Person", "ShapeList", ...

  bool operator==(const RemoteObjectRef&) const = default;

  // A reference to object `object_number` of interface `interface_name` in the process
  // at `address` (dotted IPv4 or IPv6 text) and `port`; invalid_argument if the address
  // does not parse, the port is above 65535 or the interface name is empty or holds
  // '/' or a control character.
  static Result<RemoteObjectRef> make(std::string_view address, std::uint32_t port,
                                      std::uint32_t time, std::uint32_t object_number,
                                      std::string_view interface_name);

  // Parses the text form "ref:<address>:<port>/<time>/<object number>/<interface>".
  static Result<RemoteObjectRef> parse(std::string_view text);

  // The address as text ("127.0.0.1", "::1"); "?" if it is neither 4 nor 16 bytes.
  std::string address_text() const;
  // The text form; parse(to_string()) gives back an equal reference.
  std::string to_string() const;
  // Checks what make() checks (for a reference that came off the wire).
  Result<void> validate() const;
};

constexpr auto nexo_wire_describe(const RemoteObjectRef*) {
  return describe<RemoteObjectRef>("remote_object_ref")
      .field("address", &RemoteObjectRef::address)
      .field("port", &RemoteObjectRef::port)
      .field("time", &RemoteObjectRef::time)
      .field("object_number", &RemoteObjectRef::object_number)
      .field("interface_name", &RemoteObjectRef::interface_name)
      .java("RemoteObjectRef", 1L);
}

}  // namespace nexo::wire
