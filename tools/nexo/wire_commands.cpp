// nexo marshal / nexo unmarshal: the example types of wire/ in every format, as an
// annotated hex dump (which bytes are a tag, a length, padding, a handle, a value), as
// raw bytes, or as hex; and back.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "commands.hpp"
#include "terminal_text.hpp"
#include "nexo/base/bytes.hpp"
#include "nexo/wire/examples.hpp"
#include "nexo/wire/remote_ref.hpp"
#include "nexo/wire/text.hpp"
#include "wire_formats.hpp"

namespace nexo::tool {
namespace {

namespace ex = wire::examples;

int fail(std::string_view command, const std::string& message) {
  return report_failure(command, message);
}

// Reads all of `in` (named `name` in errors), at most `limit` bytes: a read error
// (a directory, an I/O error) or a larger input is an error, never an exception.
Result<std::string> read_all(std::istream& in, const std::string& name, std::size_t limit) {
  std::string out;
  char chunk[1 << 16];
  while (in) {
    in.read(chunk, sizeof chunk);
    out.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (out.size() > limit) {
      return Error(ErrorKind::too_large,
                   name + ": more than " + std::to_string(limit) + " bytes of input");
    }
  }
  if (in.bad()) {  // the stream caught the failure (EISDIR, EIO): errno still says which
    const int err = errno;
    return Error(ErrorKind::system,
                 "cannot read " + name + (err != 0 ? std::string(": ") + std::strerror(err) : ""));
  }
  return out;
}

// The input of nexo unmarshal: FILE, or standard input for "-".
Result<std::string> read_input(const std::string& path, std::size_t limit) {
  if (path == "-") return read_all(std::cin, "standard input", limit);
  std::ifstream file(path, std::ios::binary);
  if (!file) return Error(ErrorKind::system, "cannot open " + path + ": " + std::strerror(errno));
  errno = 0;
  return read_all(file, path, limit);
}

wire::RemoteObjectRef example_ref() {
  auto ref = wire::RemoteObjectRef::make("127.0.0.1", 1099, 1764000000, 7, "Person");
  return ref ? *ref : wire::RemoteObjectRef{};
}

// Calls fn(value) with the example named `example`; false if there is none.
template <class Fn>
bool with_example(std::string_view example, Fn&& fn) {
  if (example == "person") {
    fn(ex::make_person());
  } else if (example == "large") {
    fn(ex::make_large());
  } else if (example == "everything") {
    fn(ex::make_everything());
  } else if (example == "ref") {
    fn(example_ref());
  } else {
    return false;
  }
  return true;
}

// An empty value of the example's type.
template <class Fn>
bool with_example_type(std::string_view example, Fn&& fn) {
  if (example == "person") {
    fn(ex::Person{});
  } else if (example == "large") {
    fn(ex::Large{});
  } else if (example == "everything") {
    fn(ex::Everything{});
  } else if (example == "ref") {
    fn(wire::RemoteObjectRef{});
  } else {
    return false;
  }
  return true;
}

std::string hex_of(std::span<const std::byte> bytes) {
  std::string out;
  char cell[4];
  std::size_t i = 0;
  for (std::byte b : bytes) {
    std::snprintf(cell, sizeof cell, "%02x", static_cast<unsigned>(b));
    out += cell;
    out += (++i % 32 == 0) ? '\n' : ' ';
  }
  if (!out.empty() && out.back() == ' ') out.back() = '\n';
  return out;
}

// Reads hex text ("0a 1b", "0a1b", newlines) into bytes; false on a non-hex character.
bool parse_hex(std::string_view text, Bytes& out, std::size_t& bad_at) {
  int high = -1;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      continue;
    } else {
      bad_at = i;
      return false;
    }
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::byte>(high * 16 + v));
      high = -1;
    }
  }
  if (high >= 0) {
    bad_at = text.size();
    return false;
  }
  return true;
}

}  // namespace

const std::vector<std::string>& wire_format_names() {
  return known_formats();
}

const std::vector<std::string>& wire_example_names() {
  static const std::vector<std::string> names = {"person", "large", "everything", "ref"};
  return names;
}

int wire_marshal(const MarshalArgs& args) {
  int status = 0;
  bool found = with_example(args.example, [&](const auto& value) {
    wire::AnnotatedBuffer out;
    if (auto r = encode_as(args.format, value, out, args.pretty); !r) {
      status = fail("marshal", r.error().message());
      return;
    }
    if (args.output == "raw") {
      std::cout.write(reinterpret_cast<const char*>(out.data()),
                      static_cast<std::streamsize>(out.size()));
    } else if (args.output == "hex") {
      std::cout << hex_of(out.bytes());
    } else {
      std::cout << args.example << " in " << args.format << " (" << wire_format_title(args.format)
                << "): " << out.size() << " bytes\n";
      if (wire_format_is_text(args.format)) std::cout << out.text() << "\n\n";
      std::cout << wire::annotated_dump(out.bytes(), out.notes());
    }
    std::cout.flush();
  });
  if (!found) return fail("marshal", "unknown example '" + args.example + "'");
  return status;
}

int wire_unmarshal(const UnmarshalArgs& args) {
  // Hex text takes up to three characters per byte, and line breaks.
  const std::size_t limit = wire::Limits{}.max_bytes * (args.hex ? 4 : 1);
  auto read = read_input(args.input, limit);
  if (!read) return fail("unmarshal", read.error().message());
  const std::string& input = *read;
  Bytes bytes;
  if (args.hex) {
    std::size_t bad_at = 0;
    if (!parse_hex(input, bytes, bad_at))
      return fail("unmarshal", "--hex input is not hex at character " + std::to_string(bad_at));
  } else {
    bytes = to_bytes(input);
  }
  int status = 0;
  bool found = with_example_type(args.example, [&](auto value) {
    if (auto r = decode_as(args.format, bytes, value); !r) {
      status = fail("unmarshal", r.error().message());
      return;
    }
    std::cout << printable_lines(wire::to_text(value));
    if constexpr (std::is_same_v<decltype(value), wire::RemoteObjectRef>) {
      if (auto v = value.validate(); !v) {
        status = fail("unmarshal", v.error().message());
        return;
      }
      std::cout << printable(value.to_string()) << "\n";
    }
  });
  if (!found) return fail("unmarshal", "unknown example '" + args.example + "'");
  return status;
}

}  // namespace nexo::tool
