// Bencode: the reader's rules, the value tree, its decoder and its encoder (bencode.hpp).
#include "nexo/wire/bencode.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

namespace nexo::wire::bencode {

namespace {

bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

constexpr char kHex[] = "0123456789abcdef";

// Byte order of keys: memcmp, then the shorter first (BEP 3's "raw strings").
int compare_bytes(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  if (n != 0)
    if (int c = std::memcmp(a.data(), b.data(), n); c != 0) return c;
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

bool key_less(const Dict::Entry& e, std::string_view key) {
  return compare_bytes(e.first, key) < 0;
}

}  // namespace

// ---------------------------------------------------------------------------
// The reader.

namespace detail {

std::string starts(unsigned char c) {
  switch (c) {
    case 'i':
      return "an integer";
    case 'l':
      return "a list";
    case 'd':
      return "a dictionary";
    case 'e':
      return "'e' (an end)";
    default:
      break;
  }
  if (is_digit(c)) return "a byte string";
  if (c > 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
  return std::string("byte 0x") + kHex[c >> 4] + kHex[c & 15];
}

std::string quote(std::string_view bytes) {
  constexpr std::size_t kMax = 40;
  std::string out = "\"";
  for (std::size_t i = 0; i < std::min(bytes.size(), kMax); ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  out += '"';
  if (bytes.size() > kMax) out += "...";
  return out;
}

std::string integer_text(const Integer& n) {
  return (n.negative ? "-" : "") + std::to_string(n.magnitude);
}

bool Reader::peek_value(unsigned char& c) {
  if (st_.in.at_end()) return st_.fail("truncated: expected a value, found the end of the input");
  c = st_.in.peek();
  if (c == 'i' || c == 'l' || c == 'd' || is_digit(c)) return true;
  return st_.fail("expected a value (i, l, d or a digit), found " + starts(c));
}

bool Reader::expect(unsigned char c, char want, std::string_view label) {
  if (want == 's' ? is_digit(c) : c == static_cast<unsigned char>(want)) return true;
  const std::string_view wanted = want == 'i'   ? "an integer"
                                  : want == 's' ? "a byte string"
                                  : want == 'l' ? "a list"
                                                : "a dictionary";
  return st_.fail(std::string(label) + ": expected " + std::string(wanted) + ", found " +
                  starts(c));
}

std::size_t Reader::digits(std::uint64_t& n, bool& overflow) {
  Input& in = st_.in;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  std::size_t count = 0;
  n = 0;
  overflow = false;
  while (!in.at_end() && is_digit(in.peek())) {
    const unsigned d = in.next() - '0';
    if (n > (kMax - d) / 10)
      overflow = true;
    else
      n = n * 10 + d;
    ++count;
  }
  return count;
}

bool Reader::read_integer(Integer& n) {
  Input& in = st_.in;
  const std::size_t at = in.offset();
  in.skip(1);  // 'i'
  n = {};
  if (!in.at_end() && in.peek() == '-') {
    n.negative = true;
    in.skip(1);
  }
  const std::size_t first = in.offset();
  bool overflow = false;
  const std::size_t count = digits(n.magnitude, overflow);
  if (count == 0) {
    if (in.at_end()) return fail_at(at, "truncated: integer has no end 'e'");
    if (in.peek() == 'e') return fail_at(first, "integer has no digits");
    return st_.fail("integer: expected a digit, found " + starts(in.peek()));
  }
  if (count > 1 && in.begin()[first] == '0') return fail_at(first, "integer has a leading zero");
  if (n.negative && n.magnitude == 0 && !overflow)
    return fail_at(first - 1, "integer is negative zero (i-0e)");
  if (overflow) return fail_at(first, "integer does not fit in 64 bits");
  if (in.at_end()) return fail_at(at, "truncated: integer has no end 'e'");
  if (in.peek() != 'e')
    return st_.fail("integer: expected a digit or 'e', found " + starts(in.peek()));
  in.skip(1);
  return true;
}

bool Reader::read_string(std::string_view& s) {
  Input& in = st_.in;
  const std::size_t at = in.offset();
  std::uint64_t length = 0;
  bool overflow = false;
  const std::size_t count = digits(length, overflow);
  if (count > 1 && in.begin()[at] == '0') return fail_at(at, "string length has a leading zero");
  if (in.at_end()) return fail_at(at, "truncated: string length has no ':'");
  if (in.peek() != ':')
    return st_.fail("string length: expected a digit or ':', found " + starts(in.peek()));
  if (overflow) return fail_at(at, "string length does not fit in 64 bits");
  in.skip(1);
  if (!st_.check_length(length, "string", at)) return false;
  s = {reinterpret_cast<const char*>(in.pos()), static_cast<std::size_t>(length)};
  in.skip(static_cast<std::size_t>(length));
  return true;
}

bool Reader::open() {
  if (!st_.enter()) return false;  // at the 'l' or 'd'
  st_.in.skip(1);
  return true;
}

bool Reader::next(std::size_t opened_at, std::size_t count, bool& more) {
  Input& in = st_.in;
  const std::string_view what = in.begin()[opened_at] == 'l' ? "list" : "dictionary";
  if (in.at_end())
    return st_.fail("truncated: the " + std::string(what) + " at byte " +
                    std::to_string(opened_at) + " has no end 'e'");
  if (in.peek() == 'e') {
    in.skip(1);
    st_.leave();
    more = false;
    return true;
  }
  more = true;
  return st_.check_count(count + 1, 0, what);
}

bool Reader::read_key(std::string_view& key, const std::string_view* prev) {
  Input& in = st_.in;
  const std::size_t at = in.offset();
  if (!is_digit(in.peek()))
    return st_.fail("dictionary key must be a byte string, found " + starts(in.peek()));
  if (!read_string(key)) return false;
  if (prev != nullptr) {
    const int order = compare_bytes(*prev, key);
    if (order == 0) return fail_at(at, "dictionary key " + quote(key) + " appears twice");
    if (order > 0)
      return fail_at(at, "dictionary key " + quote(key) + " is out of order (after " +
                             quote(*prev) + "; keys ascend as raw bytes)");
  }
  if (in.at_end()) return st_.fail("truncated: dictionary key " + quote(key) + " has no value");
  if (in.peek() == 'e') return st_.fail("dictionary key " + quote(key) + " has no value");
  return true;
}

bool Reader::skip_value() {
  unsigned char c;
  if (!peek_value(c)) return false;
  if (c == 'i') {
    Integer n;
    return read_integer(n);
  }
  if (is_digit(c)) {
    std::string_view s;
    return read_string(s);
  }
  const std::size_t at = offset();
  if (!open()) return false;
  std::string_view prev;
  std::size_t count = 0;
  for (bool more; next(at, count, more) && more; ++count) {
    if (c == 'd') {
      std::string_view key;
      if (!read_key(key, count == 0 ? nullptr : &prev)) return false;
      prev = key;
    }
    if (!skip_value()) return false;
  }
  return !st_.error.failed();
}

bool Reader::finish() {
  const std::size_t left = st_.in.left();
  if (left == 0) return true;
  return st_.fail(std::to_string(left) + (left == 1 ? " byte" : " bytes") +
                  " after the end of the value");
}

}  // namespace detail

// ---------------------------------------------------------------------------
// The value tree.

const Value* Dict::find(std::string_view key) const noexcept {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), key, key_less);
  return it != entries_.end() && it->first == key ? &it->second : nullptr;
}

Value* Dict::find(std::string_view key) noexcept {
  return const_cast<Value*>(static_cast<const Dict*>(this)->find(key));
}

Value& Dict::insert_or_assign(std::string key, Value value) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), key, key_less);
  if (it != entries_.end() && it->first == key) {
    it->second = std::move(value);
    return it->second;
  }
  return entries_.insert(it, Entry{std::move(key), std::move(value)})->second;
}

bool Dict::erase(std::string_view key) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), key, key_less);
  if (it == entries_.end() || it->first != key) return false;
  entries_.erase(it);
  return true;
}

bool Dict::append(std::string key, Value value) {
  if (!entries_.empty() && compare_bytes(entries_.back().first, key) >= 0) return false;
  entries_.emplace_back(std::move(key), std::move(value));
  return true;
}

std::string_view kind_name(Value::Kind kind) noexcept {
  switch (kind) {
    case Value::Kind::integer:
      return "an integer";
    case Value::Kind::string:
      return "a byte string";
    case Value::Kind::list:
      return "a list";
    case Value::Kind::dict:
      return "a dictionary";
  }
  return "?";
}

namespace {

Error mismatch(Value::Kind want, Value::Kind got, std::string_view key = {}) {
  std::string text = "bencode: ";
  if (!key.empty()) text += "key " + detail::quote(key) + ": ";
  return Error(ErrorKind::malformed, text + "expected " + std::string(kind_name(want)) +
                                         ", found " + std::string(kind_name(got)));
}

}  // namespace

Result<std::int64_t> Value::as_integer() const {
  if (!is_integer()) return mismatch(Kind::integer, kind());
  return integer();
}

Result<std::string_view> Value::as_string() const {
  if (!is_string()) return mismatch(Kind::string, kind());
  return std::string_view(string());
}

Result<const List*> Value::as_list() const {
  if (!is_list()) return mismatch(Kind::list, kind());
  return &list();
}

Result<const Dict*> Value::as_dict() const {
  if (!is_dict()) return mismatch(Kind::dict, kind());
  return &dict();
}

const Value* Value::find(std::string_view key) const noexcept {
  return is_dict() ? dict().find(key) : nullptr;
}

Result<const Value*> Value::get(std::string_view key, Kind want) const {
  if (!is_dict())
    return Error(ErrorKind::malformed, "bencode: expected a dictionary (with key " +
                                           detail::quote(key) + "), found " +
                                           std::string(kind_name(kind())));
  const Value* v = dict().find(key);
  if (v == nullptr)
    return Error(ErrorKind::malformed, "bencode: missing key " + detail::quote(key));
  if (v->kind() != want) return mismatch(want, v->kind(), key);
  return v;
}

Result<std::int64_t> Value::get_integer(std::string_view key) const {
  auto v = get(key, Kind::integer);
  if (!v) return std::move(v).error();
  return (*v)->integer();
}

Result<std::string_view> Value::get_string(std::string_view key) const {
  auto v = get(key, Kind::string);
  if (!v) return std::move(v).error();
  return std::string_view((*v)->string());
}

Result<const List*> Value::get_list(std::string_view key) const {
  auto v = get(key, Kind::list);
  if (!v) return std::move(v).error();
  return &(*v)->list();
}

Result<const Dict*> Value::get_dict(std::string_view key) const {
  auto v = get(key, Kind::dict);
  if (!v) return std::move(v).error();
  return &(*v)->dict();
}

// ---------------------------------------------------------------------------
// Decoding the tree.

namespace {

using detail::Integer;
using detail::Reader;

class TreeDecoder {
 public:
  explicit TreeDecoder(Reader& r) noexcept : r_(r) {}

  bool value(Value& out) {
    unsigned char c;
    if (!r_.peek_value(c)) return false;
    switch (c) {
      case 'i':
        return integer(out);
      case 'l':
        return list(out);
      case 'd':
        return dict(out);
      default:
        return string(out);
    }
  }

 private:
  bool charge(std::size_t size, std::string_view what, std::size_t at) {
    return size == 0 || r_.state().charge(1, size, what, at);
  }

  bool integer(Value& out) {
    const std::size_t at = r_.offset();
    Integer n;
    if (!r_.read_integer(n)) return false;
    std::int64_t v = 0;
    if (!detail::fit(n, v))
      return r_.fail_at(at, "integer " + detail::integer_text(n) + " does not fit in int64");
    out = Value(v);
    return true;
  }

  bool string(Value& out) {
    const std::size_t at = r_.offset();
    std::string_view s;
    if (!r_.read_string(s) || !charge(s.size(), "string", at)) return false;
    out = Value(std::string(s));
    return true;
  }

  bool list(Value& out) {
    const std::size_t at = r_.offset();
    if (!r_.open()) return false;
    Value::List items;
    std::size_t count = 0;
    for (bool more; r_.next(at, count, more) && more; ++count) {
      if (!charge(sizeof(Value), "list", r_.offset())) return false;
      items.emplace_back();
      if (!value(items.back())) return false;
    }
    if (r_.state().error.failed()) return false;
    out = Value(std::move(items));
    return true;
  }

  bool dict(Value& out) {
    const std::size_t at = r_.offset();
    if (!r_.open()) return false;
    Dict entries;
    std::string_view prev;
    std::size_t count = 0;
    for (bool more; r_.next(at, count, more) && more; ++count) {
      const std::size_t key_at = r_.offset();
      std::string_view key;
      if (!r_.read_key(key, count == 0 ? nullptr : &prev) ||
          !charge(sizeof(Dict::Entry) + key.size(), "dictionary", key_at))
        return false;
      prev = key;
      Value v;
      if (!value(v)) return false;
      entries.append(std::string(key), std::move(v));  // in order: read_key checked it
    }
    if (r_.state().error.failed()) return false;
    out = Value(std::move(entries));
    return true;
  }

  Reader& r_;
};

}  // namespace

bool detail::read_value(Reader& r, Value& out) {
  return TreeDecoder(r).value(out);
}

Result<Value> decode(std::span<const std::byte> bytes, const Limits& limits) {
  Reader r(bytes, limits);
  Value v;
  if (!r.state().check_size() || !detail::read_value(r, v) || !r.finish())
    return r.state().error.to_error("bencode");
  return v;
}

Result<Value> decode(std::string_view text, const Limits& limits) {
  return decode(as_bytes(text), limits);
}

Result<Prefix> decode_prefix(std::span<const std::byte> bytes, const Limits& limits) {
  Reader r(bytes, limits);
  Prefix p;
  if (!r.state().check_size() || !detail::read_value(r, p.value))
    return r.state().error.to_error("bencode");
  p.size = r.offset();
  return p;
}

// ---------------------------------------------------------------------------
// Encoding the tree.

namespace {

void put_integer(std::int64_t n, Buffer& out) {
  char* p = reinterpret_cast<char*>(out.room(24));
  p[0] = 'i';
  char* end = std::to_chars(p + 1, p + 23, n).ptr;
  *end++ = 'e';
  out.commit(static_cast<std::size_t>(end - p));
}

void put_string(std::string_view s, Buffer& out) {
  char* p = reinterpret_cast<char*>(out.room(21));
  char* end = std::to_chars(p, p + 20, s.size()).ptr;
  *end++ = ':';
  out.commit(static_cast<std::size_t>(end - p));
  out.append(s);
}

}  // namespace

void encode(const Value& v, Buffer& out) {
  switch (v.kind()) {
    case Value::Kind::integer:
      put_integer(v.integer(), out);
      return;
    case Value::Kind::string:
      put_string(v.string(), out);
      return;
    case Value::Kind::list:
      out.push_back('l');
      for (const Value& item : v.list())
        encode(item, out);
      out.push_back('e');
      return;
    case Value::Kind::dict:
      out.push_back('d');
      for (const auto& [key, item] : v.dict()) {
        put_string(key, out);
        encode(item, out);
      }
      out.push_back('e');
      return;
  }
}

Bytes encode(const Value& v) {
  Buffer out;
  encode(v, out);
  return out.to_vector();
}

}  // namespace nexo::wire::bencode
