// nexo marshal / nexo unmarshal: the example types of wire/ in every format, as an
// annotated hex dump (which bytes are a tag, a length, padding, a handle, a value), as
// raw bytes, or as hex; and back.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "commands.hpp"
#include "nexo/base/bytes.hpp"
#include "nexo/wire/examples.hpp"
#include "nexo/wire/remote_ref.hpp"
#include "nexo/wire/text.hpp"
#include "wire_formats.hpp"

namespace nexo::tool {
namespace {

namespace ex = wire::examples;

int fail(std::string_view command, const std::string& message) {
  std::cerr << "nexo " << command << ": " << message << "\n";
  return 1;
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
  std::string input;
  if (args.input == "-") {
    input.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream file(args.input, std::ios::binary);
    if (!file) return fail("unmarshal", "cannot open " + args.input);
    input.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
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
    std::cout << wire::to_text(value);
    if constexpr (std::is_same_v<decltype(value), wire::RemoteObjectRef>) {
      if (auto v = value.validate(); !v) {
        status = fail("unmarshal", v.error().message());
        return;
      }
      std::cout << value.to_string() << "\n";
    }
  });
  if (!found) return fail("unmarshal", "unknown example '" + args.example + "'");
  return status;
}

}  // namespace nexo::tool
