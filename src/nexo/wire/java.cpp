#include "nexo/wire/java.hpp"

#include <array>
#include <cstdio>

namespace nexo::wire::java::detail {

namespace {

// SHA-1 (FIPS 180-4), enough for the JVM's default serialVersionUID of array classes.
std::array<std::uint8_t, 20> sha1(std::string_view message) {
  std::uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string m(message);
  std::uint64_t bit_length = static_cast<std::uint64_t>(message.size()) * 8;
  m.push_back('\x80');
  while (m.size() % 64 != 56)
    m.push_back('\0');
  for (int k = 7; k >= 0; --k)
    m.push_back(static_cast<char>(bit_length >> (8 * k)));
  auto rotl = [](std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  for (std::size_t block = 0; block < m.size(); block += 64) {
    std::uint32_t w[80];
    for (int t = 0; t < 16; ++t) {
      const auto* p = reinterpret_cast<const unsigned char*>(m.data() + block + 4 * t);
      w[t] = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
             (std::uint32_t{p[2]} << 8) | p[3];
    }
    for (int t = 16; t < 80; ++t)
      w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; ++t) {
      std::uint32_t f, k;
      if (t < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (t < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      std::uint32_t temp = rotl(a, 5) + f + e + k + w[t];
      e = d;
      d = c;
      c = rotl(b, 30);
      b = a;
      a = temp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::array<std::uint8_t, 20> out{};
  for (int i = 0; i < 20; ++i)
    out[i] = static_cast<std::uint8_t>(h[i / 4] >> (24 - 8 * (i % 4)));
  return out;
}

void put_utf(std::string& out, std::string_view text) {
  std::size_t n = mutf8_length(text);
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  std::size_t at = out.size();
  out.resize(at + n);
  mutf8_encode(text, reinterpret_cast<std::byte*>(out.data() + at));
}

void put_u64(std::string& out, std::uint64_t v) {
  for (int k = 7; k >= 0; --k)
    out.push_back(static_cast<char>(v >> (8 * k)));
}

std::string hex2(unsigned char c) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02x", c);
  return text;
}

bool is_primitive_code(char c) {
  return c == 'B' || c == 'C' || c == 'D' || c == 'F' || c == 'I' || c == 'J' || c == 'S' ||
         c == 'Z';
}

std::size_t primitive_size(char c) {
  switch (c) {
    case 'B':
    case 'Z':
      return 1;
    case 'C':
    case 'S':
      return 2;
    case 'I':
    case 'F':
      return 4;
    default:
      return 8;
  }
}

// One UTF-8 sequence at s[i]: its code point and length, or length 0 when malformed.
std::pair<std::uint32_t, std::size_t> utf8_at(const unsigned char* s, std::size_t n,
                                              std::size_t i) {
  unsigned char c = s[i];
  std::size_t len;
  std::uint32_t cp;
  if (c < 0x80) return {c, 1};
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return {0, 0};
  }
  if (i + len > n) return {0, 0};
  for (std::size_t k = 1; k < len; ++k) {
    if ((s[i + k] & 0xc0) != 0x80) return {0, 0};
    cp = (cp << 6) | (s[i + k] & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return {0, 0};
  return {cp, len};
}

std::size_t put_unit(std::uint32_t u, std::byte* p) {  // one UTF-16 unit, 1 to 3 bytes
  if (u != 0 && u < 0x80) {
    p[0] = static_cast<std::byte>(u);
    return 1;
  }
  if (u < 0x800) {
    p[0] = static_cast<std::byte>(0xc0 | (u >> 6));
    p[1] = static_cast<std::byte>(0x80 | (u & 0x3f));
    return 2;
  }
  p[0] = static_cast<std::byte>(0xe0 | (u >> 12));
  p[1] = static_cast<std::byte>(0x80 | ((u >> 6) & 0x3f));
  p[2] = static_cast<std::byte>(0x80 | (u & 0x3f));
  return 3;
}

}  // namespace

std::int64_t array_serial_version_uid(std::string_view class_name) {
  std::string data;
  put_utf(data, class_name);
  // Modifiers of an array class of a public component: PUBLIC | FINAL | ABSTRACT.
  for (std::uint32_t mods = 0x411, k = 0; k < 4; ++k)
    data.push_back(static_cast<char>(mods >> (24 - 8 * k)));
  auto digest = sha1(data);
  std::uint64_t uid = 0;
  for (int i = 7; i >= 0; --i)
    uid = (uid << 8) | digest[static_cast<std::size_t>(i)];
  return static_cast<std::int64_t>(uid);
}

std::size_t mutf8_length(std::string_view text) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size(), total = 0;
  for (std::size_t i = 0; i < n;) {
    auto [cp, len] = utf8_at(s, n, i);
    if (len == 0) {
      total += 3;  // U+FFFD
      ++i;
    } else {
      total += cp == 0 ? 2 : len == 4 ? 6 : len;
      i += len;
    }
  }
  return total;
}

void mutf8_encode(std::string_view text, std::byte* p) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    auto [cp, len] = utf8_at(s, n, i);
    if (len == 0) {
      p += put_unit(0xfffd, p);
      ++i;
      continue;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      p += put_unit(0xd800 + (cp >> 10), p);
      p += put_unit(0xdc00 + (cp & 0x3ff), p);
    } else if (cp < 0x80 && cp != 0) {
      *p++ = static_cast<std::byte>(cp);
    } else {
      p += put_unit(cp, p);
    }
    i += len;
  }
}

std::size_t mutf8_decode(const unsigned char* p, std::size_t n, std::string& out) {
  out.clear();
  out.reserve(n);
  auto unit = [&](std::size_t i, std::uint32_t& u) -> std::size_t {  // length, 0 if bad
    unsigned char c = p[i];
    if (c < 0x80) {
      u = c;
      return 1;
    }
    if ((c & 0xe0) == 0xc0) {
      if (i + 2 > n || (p[i + 1] & 0xc0) != 0x80) return 0;
      u = ((c & 0x1fu) << 6) | (p[i + 1] & 0x3fu);
      return (u >= 0x80 || u == 0) ? 2 : 0;  // C0 80 is NUL; other overlongs are bad
    }
    if ((c & 0xf0) == 0xe0) {
      if (i + 3 > n || (p[i + 1] & 0xc0) != 0x80 || (p[i + 2] & 0xc0) != 0x80) return 0;
      u = ((c & 0x0fu) << 12) | ((p[i + 1] & 0x3fu) << 6) | (p[i + 2] & 0x3fu);
      return u >= 0x800 ? 3 : 0;
    }
    return 0;
  };
  for (std::size_t i = 0; i < n;) {
    std::uint32_t u;
    std::size_t len = unit(i, u);
    if (len == 0) return i;
    if (u >= 0xdc00 && u <= 0xdfff) return i;  // a low surrogate alone
    if (u >= 0xd800 && u <= 0xdbff) {
      std::uint32_t low;
      std::size_t len2 = i + len < n ? unit(i + len, low) : 0;
      if (len2 == 0 || low < 0xdc00 || low > 0xdfff) return i;  // a high surrogate alone
      u = 0x10000 + ((u - 0xd800) << 10) + (low - 0xdc00);
      len += len2;
    }
    if (u < 0x80) {
      out.push_back(static_cast<char>(u));
    } else if (u < 0x800) {
      out.push_back(static_cast<char>(0xc0 | (u >> 6)));
      out.push_back(static_cast<char>(0x80 | (u & 0x3f)));
    } else if (u < 0x10000) {
      out.push_back(static_cast<char>(0xe0 | (u >> 12)));
      out.push_back(static_cast<char>(0x80 | ((u >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (u & 0x3f)));
    } else {
      out.push_back(static_cast<char>(0xf0 | (u >> 18)));
      out.push_back(static_cast<char>(0x80 | ((u >> 12) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | ((u >> 6) & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (u & 0x3f)));
    }
    i += len;
  }
  return n;
}

std::string printable(const unsigned char* p, std::size_t n) {
  std::string out;
  std::size_t shown = n < 200 ? n : 200;
  for (std::size_t i = 0; i < shown; ++i) {
    if (p[i] >= 0x20 && p[i] < 0x7f) {
      out.push_back(static_cast<char>(p[i]));
    } else {
      char text[8];
      std::snprintf(text, sizeof text, "\\x%02x", p[i]);
      out += text;
    }
  }
  if (shown < n) out += "...";
  return out;
}

std::string_view tc_name(unsigned char code) noexcept {
  static constexpr std::array<std::string_view, 15> names = {
      "TC_NULL",          "TC_REFERENCE", "TC_CLASSDESC",  "TC_OBJECT",         "TC_STRING",
      "TC_ARRAY",         "TC_CLASS",     "TC_BLOCKDATA",  "TC_ENDBLOCKDATA",   "TC_RESET",
      "TC_BLOCKDATALONG", "TC_EXCEPTION", "TC_LONGSTRING", "TC_PROXYCLASSDESC", "TC_ENUM"};
  if (code < TC_NULL || code > TC_ENUM) return {};
  return names[code - TC_NULL];
}

std::string handle_name(std::uint32_t handle) {
  char text[24];
  std::snprintf(text, sizeof text, "handle 0x%x", handle);
  return text;
}

std::string slashed(std::string_view dotted) {
  std::string s(dotted);
  std::replace(s.begin(), s.end(), '.', '/');
  return s;
}

void finish_class_info(ClassInfo& info) {
  info.head.clear();
  put_utf(info.head, info.name);
  put_u64(info.head, static_cast<std::uint64_t>(info.uid));
  info.head.push_back(static_cast<char>(SC_SERIALIZABLE));
  info.head.push_back(static_cast<char>(info.fields.size() >> 8));
  info.head.push_back(static_cast<char>(info.fields.size()));
  for (auto* list : {&info.fields, &info.declared}) {
    for (FieldInfo& f : *list) {
      f.head.assign(1, f.code);
      put_utf(f.head, f.name);
      std::string name(f.name.size() * 3, '\0');  // the name as modified UTF-8
      name.resize(mutf8_length(f.name));
      mutf8_encode(f.name, reinterpret_cast<std::byte*>(name.data()));
      f.name = std::move(name);
    }
  }
}

// ---------------------------------------------------------------------------
// Decoder

bool Decoder::header() {
  if (!need(4, "stream header")) return false;
  const unsigned char* p = st_.in.pos();
  if (p[0] != 0xac || p[1] != 0xed)
    return st_.fail("not a Java serialization stream: magic " + hex2(p[0]) + " " + hex2(p[1]) +
                    ", not 0xac 0xed");
  if (p[2] != 0 || p[3] != 5)
    return st_.fail_at(2, "stream version " + std::to_string(p[2] * 256 + p[3]) + " is not 5");
  st_.in.skip(4);
  handles_.reserve(std::min<std::size_t>(st_.in.size() / 64 + 16, std::size_t{1} << 12));
  return true;
}

bool Decoder::finish() {
  if (!st_.in.at_end())
    return st_.fail(std::to_string(st_.in.left()) + " bytes left over after the object");
  return true;
}

bool Decoder::read_handle(std::size_t& index, std::size_t at) {
  if (!need(4, "handle")) return false;
  std::uint32_t raw;
  st_.in.copy(&raw, 4);
  std::uint32_t handle = big_endian(raw);
  if (handle < kBaseWireHandle || handle - kBaseWireHandle >= handles_.size())
    return st_.fail_at(at, handle_name(handle) + " is not assigned (" +
                               std::to_string(handles_.size()) + " handles so far)");
  index = handle - kBaseWireHandle;
  return true;
}

std::string Decoder::class_name(std::size_t cls) const {
  const ClassDesc& cd = classes_[cls];
  return printable(st_.in.begin() + cd.name_offset, cd.name_length);
}

bool Decoder::unexpected(unsigned char tag, std::size_t at, std::string_view label,
                         std::string_view expected) {
  std::string_view name = tc_name(tag);
  if (name.empty())
    return st_.fail_at(at, "unknown type code " + hex2(tag) + " where " + std::string(label) +
                               " expects " + std::string(expected));
  return st_.fail_at(at, "type code " + hex2(tag) + " (" + std::string(name) + ") where " +
                             std::string(label) + " expects " + std::string(expected));
}

bool Decoder::wrong_reference(std::size_t index, std::size_t at, std::string_view label,
                              std::string_view why) {
  static constexpr const char* kinds[] = {"a class descriptor", "a string", "an array", "an object",
                                          "a skipped value"};
  return st_.fail_at(at, handle_name(static_cast<std::uint32_t>(kBaseWireHandle + index)) + " (" +
                             kinds[static_cast<int>(handles_[index].kind)] +
                             ") cannot be read as " + std::string(label) + ", " + std::string(why));
}

bool Decoder::read_class_desc(const ClassInfo& expect, std::size_t& cls) {
  if (!need(1, "class descriptor")) return false;
  std::size_t at = st_.in.offset();
  unsigned char tag = st_.in.next();
  if (tag == TC_CLASSDESC) return parse_class_desc(&expect, cls);
  if (tag != TC_REFERENCE) {
    if (tag == TC_NULL)
      return st_.fail_at(at, "null class descriptor where class " + expect.name + " is expected");
    return unexpected(tag, at, "the object", "a class descriptor of " + expect.name);
  }
  std::size_t index;
  if (!read_handle(index, at)) return false;
  if (handles_[index].kind != Kind::class_desc)
    return wrong_reference(index, at, "a class descriptor", "expected class " + expect.name);
  cls = handles_[index].offset;
  ClassDesc& cd = classes_[cls];
  if (cd.checked == &expect) return true;
  if (bytes_at(cd.name_offset, cd.name_length) != expect.name)
    return st_.fail_at(at, "class " + class_name(cls) + " was not described to nexo (expected " +
                               expect.name + ")");
  cd.checked = &expect;
  return true;
}

bool Decoder::parse_class_desc(const ClassInfo* expect, std::size_t& cls) {
  if (!need(2, "class name length")) return false;
  std::size_t n = std::size_t{st_.in.next()} << 8;
  n |= st_.in.next();
  if (!need(n, "class name")) return false;
  std::size_t name_offset = st_.in.offset();
  auto name = [&] { return printable(st_.in.begin() + name_offset, n); };
  if (expect != nullptr && bytes_at(name_offset, n) != expect->name)
    return st_.fail_at(name_offset, "class " + name() + " was not described to nexo (expected " +
                                        expect->name + ")");
  st_.in.skip(n);
  if (!need(9, "serialVersionUID and flags")) return false;
  std::size_t uid_offset = st_.in.offset();
  std::uint64_t raw;
  st_.in.copy(&raw, 8);
  auto uid = static_cast<std::int64_t>(big_endian(raw));
  if (expect != nullptr && expect->check_uid && uid != expect->uid)
    return st_.fail_at(uid_offset, "class " + name() + ": serialVersionUID " + std::to_string(uid) +
                                       " differs from the described " +
                                       std::to_string(expect->uid));
  cls = classes_.size();
  if (!new_handle(Handle{Kind::class_desc, 0, nullptr, cls, 0})) return false;
  classes_.push_back(ClassDesc{name_offset, n, 0, 0, nullptr, expect, false});
  unsigned char flags = st_.in.next();
  if ((flags & SC_EXTERNALIZABLE) != 0)
    return st_.fail("class " + name() + " is Externalizable: not supported");
  if ((flags & SC_ENUM) != 0) return st_.fail("class " + name() + " is an enum: not supported");
  if ((flags & SC_SERIALIZABLE) == 0)
    return st_.fail("class " + name() + " is not Serializable (flags " + hex2(flags) + ")");
  if ((flags & SC_WRITE_METHOD) != 0)
    return st_.fail("class " + name() +
                    " has a writeObject method (SC_WRITE_METHOD): its custom data is not "
                    "supported");
  if (!parse_fields(cls, name()) || !skip_annotation(name())) return false;
  if (!need(1, "superclass descriptor")) return false;
  if (st_.in.peek() != TC_NULL)
    return st_.fail("class " + name() + " has a serializable superclass: not supported");
  st_.in.skip(1);
  return true;
}

bool Decoder::parse_fields(std::size_t cls, std::string_view class_name) {
  if (!need(2, "field count")) return false;
  std::size_t count = std::size_t{st_.in.next()} << 8;
  count |= st_.in.next();
  if (!st_.check_count(count, 3, "field")) return false;
  classes_[cls].field_begin = fields_.size();
  classes_[cls].field_count = count;
  fields_.reserve(fields_.size() + count);
  for (std::size_t k = 0; k < count; ++k) {
    if (!need(3, "field descriptor")) return false;
    std::size_t at = st_.in.offset();
    char code = static_cast<char>(st_.in.next());
    if (!is_primitive_code(code) && code != 'L' && code != '[')
      return st_.fail_at(at, "unknown field type code " + hex2(static_cast<unsigned char>(code)) +
                                 " in class " + std::string(class_name));
    std::size_t n = std::size_t{st_.in.next()} << 8;
    n |= st_.in.next();
    if (!need(n, "field name")) return false;
    fields_.push_back(StreamField{code, st_.in.offset(), n, -1});
    st_.in.skip(n);
    if ((code == 'L' || code == '[') && !read_type_string()) return false;
  }
  return true;
}

bool Decoder::read_type_string() {
  if (!need(1, "field type")) return false;
  std::size_t at = st_.in.offset();
  unsigned char tag = st_.in.next();
  if (tag == TC_STRING || tag == TC_LONGSTRING)
    return read_string(scratch_, tag, "field type", false);
  if (tag != TC_REFERENCE) return unexpected(tag, at, "field type", "a String");
  std::size_t index;
  if (!read_handle(index, at)) return false;
  if (handles_[index].kind != Kind::string)
    return wrong_reference(index, at, "field type", "expected a String");
  return true;
}

bool Decoder::skip_annotation(std::string_view class_name) {
  for (;;) {
    if (!need(1, "class annotation")) return false;
    std::size_t at = st_.in.offset();
    unsigned char tag = st_.in.next();
    if (tag == TC_ENDBLOCKDATA) return true;
    std::size_t n;
    if (tag == TC_BLOCKDATA) {
      if (!need(1, "block data length")) return false;
      n = st_.in.next();
    } else if (tag == TC_BLOCKDATALONG) {
      if (!need(4, "block data length")) return false;
      std::uint32_t raw;
      st_.in.copy(&raw, 4);
      n = big_endian(raw);
    } else {
      std::string_view name = tc_name(tag);
      return st_.fail_at(at, "class annotation of " + std::string(class_name) +
                                 " holds type code " + hex2(tag) +
                                 (name.empty() ? "" : " (" + std::string(name) + ")") +
                                 ": only block data is accepted");
    }
    if (!need(n, "block data")) return false;
    st_.in.skip(n);
  }
}

bool Decoder::text(const unsigned char* p, std::size_t n, std::string& s, std::size_t at) {
  if (plain_ascii(p, n)) {
    s.assign(reinterpret_cast<const char*>(p), n);
    return true;
  }
  std::size_t bad = mutf8_decode(p, n, s);
  if (bad != n) return st_.fail_at(at + bad, "malformed modified UTF-8 in a string");
  return true;
}

bool Decoder::read_string(std::string& s, unsigned char tag, std::string_view label,
                          bool charged) {
  std::size_t n;
  if (tag == TC_STRING) {
    if (!need(2, "string length")) return false;
    n = std::size_t{st_.in.next()} << 8;
    n |= st_.in.next();
  } else {
    if (!need(8, "long string length")) return false;
    std::uint64_t raw;
    st_.in.copy(&raw, 8);
    std::uint64_t length = big_endian(raw);
    if (!st_.check_length(length, label)) return false;
    n = static_cast<std::size_t>(length);
  }
  if (!st_.check_length(n, label) || (charged && !st_.charge(n, 1, label))) return false;
  std::size_t at = st_.in.offset();
  if (!new_handle(Handle{Kind::string, 0, nullptr, at, n})) return false;
  if (!text(st_.in.pos(), n, s, at)) return false;
  st_.in.skip(n);
  return true;
}

bool Decoder::read_string_reference(std::string& s, std::size_t index, std::size_t at,
                                    std::string_view label) {
  const Handle& h = handles_[index];
  if (h.kind != Kind::string) return wrong_reference(index, at, label, "expected a String");
  copied_ += h.length;
  if (copied_ > st_.limits.max_bytes)
    return st_.fail_limit("bytes of strings copied through references", "max_bytes",
                          st_.limits.max_bytes);
  if (!st_.charge(h.length, 1, label, at)) return false;
  return text(st_.in.begin() + h.offset, h.length, s, h.offset);
}

bool Decoder::match_field(std::size_t cls, StreamField& field, const ClassInfo& info) {
  field.plan = -1;
  std::string_view name = bytes_at(field.name_offset, field.name_length);
  for (std::size_t i = 0; i < info.declared.size(); ++i) {
    const FieldInfo& mine = info.declared[i];
    if (mine.name != name) continue;
    bool both_objects = !is_primitive_code(field.code) && !is_primitive_code(mine.code);
    if (field.code != mine.code && !both_objects)
      return st_.fail("field " + printable(st_.in.begin() + field.name_offset, name.size()) +
                      " of class " + class_name(cls) + " has type " + field.code +
                      " in the stream, " + mine.code + " in nexo");
    const ClassDesc& cd = classes_[cls];
    for (std::size_t k = cd.field_begin; k < cd.field_begin + cd.field_count; ++k)
      if (fields_[k].plan == static_cast<int>(i))
        return st_.fail("field " + info.declared[i].name + " appears twice in class " +
                        class_name(cls));
    field.plan = static_cast<int>(i);
    return true;
  }
  return true;
}

bool Decoder::skip_field(const StreamField& field, std::size_t cls) {
  std::string name = printable(st_.in.begin() + field.name_offset, field.name_length);
  if (is_primitive_code(field.code))
    return need(primitive_size(field.code), name) &&
           (st_.in.skip(primitive_size(field.code)), true);
  return skip_object(name, cls);
}

bool Decoder::skip_object(std::string_view field_name, std::size_t cls) {
  if (!need(1, field_name)) return false;
  std::size_t at = st_.in.offset();
  unsigned char tag = st_.in.next();
  std::size_t index;
  switch (tag) {
    case TC_NULL:
      return true;
    case TC_REFERENCE:
      return read_handle(index, at);
    case TC_STRING:
    case TC_LONGSTRING:
      return read_string(scratch_, tag, field_name, false);
    case TC_ARRAY: {
      std::size_t array_cls;
      if (!need(1, "class descriptor")) return false;
      std::size_t desc_at = st_.in.offset();
      unsigned char desc_tag = st_.in.next();
      if (desc_tag == TC_CLASSDESC) {
        if (!parse_class_desc(nullptr, array_cls)) return false;
      } else if (desc_tag == TC_REFERENCE) {
        if (!read_handle(index, desc_at)) return false;
        if (handles_[index].kind != Kind::class_desc)
          return wrong_reference(index, desc_at, field_name, "expected a class descriptor");
        array_cls = handles_[index].offset;
      } else {
        return unexpected(desc_tag, desc_at, field_name, "an array class descriptor");
      }
      const ClassDesc& cd = classes_[array_cls];
      std::string_view name = bytes_at(cd.name_offset, cd.name_length);
      if (name.size() != 2 || name[0] != '[' || !is_primitive_code(name[1]))
        return st_.fail_at(at, "field " + std::string(field_name) +
                                   " (not described) holds an "
                                   "array of class " +
                                   class_name(array_cls) +
                                   ": nexo skips only arrays of primitives");
      if (!new_handle(Handle{Kind::skipped, 0, nullptr, 0, 0})) return false;
      if (!need(4, "array length")) return false;
      std::uint32_t raw;
      st_.in.copy(&raw, 4);
      auto n = static_cast<std::int32_t>(big_endian(raw));
      if (n < 0) return st_.fail("array length " + std::to_string(n) + " is negative");
      std::size_t bytes = static_cast<std::size_t>(n) * primitive_size(name[1]);
      if (!need(bytes, "array")) return false;
      st_.in.skip(bytes);
      return true;
    }
    case TC_OBJECT:
      if (st_.in.has(3) && st_.in.peek() == TC_CLASSDESC) {  // name the class
        const unsigned char* p = st_.in.pos();
        std::size_t n = (std::size_t{p[1]} << 8) | p[2];
        if (st_.in.has(3 + n))
          return st_.fail_at(at + 4, "class " + printable(p + 3, n) +
                                         " was not described to nexo (in field " +
                                         std::string(field_name) + ", which nexo skips)");
      }
      [[fallthrough]];
    default: {
      std::string_view name = tc_name(tag);
      return st_.fail_at(at, "field " + std::string(field_name) + " of class " + class_name(cls) +
                                 " is not described and holds type code " + hex2(tag) +
                                 (name.empty() ? "" : " (" + std::string(name) + ")") +
                                 ": nexo skips only nulls, strings, primitive arrays and "
                                 "references");
    }
  }
}

}  // namespace nexo::wire::java::detail
