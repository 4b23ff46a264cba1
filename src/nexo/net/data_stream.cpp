#include "nexo/net/data_stream.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <string>
#include <utility>

namespace nexo::net {
namespace {

constexpr std::size_t kMaxUtfLength = 65535;      // the 2-byte length prefix of writeUTF
constexpr std::size_t kReadChunk = 8 * 1024;      // most a refill asks the stream for
constexpr std::size_t kKeepCapacity = 64 * 1024;  // larger idle read buffers are freed

// One step of decoding: a code point (or, in modified UTF-8, a UTF-16 unit) and
// the bytes it took, or the reason the sequence at that offset is invalid.
struct Step {
  char32_t value = 0;
  std::size_t length = 0;
  const char* error = nullptr;
};

std::uint8_t byte_at(std::span<const std::byte> bytes, std::size_t i) {
  return std::to_integer<std::uint8_t>(bytes[i]);
}

// Reads the continuation bytes of a `length`-byte sequence starting at `i`.
Step continue_sequence(std::span<const std::byte> bytes, std::size_t i, std::size_t length,
                       char32_t lead_bits) {
  Step step{lead_bits, length, nullptr};
  for (std::size_t k = 1; k < length; ++k) {
    if (i + k >= bytes.size()) return {0, 0, "truncated sequence"};
    std::uint8_t b = byte_at(bytes, i + k);
    if ((b & 0xC0) != 0x80) return {0, 0, "bad continuation byte"};
    step.value = (step.value << 6) | (b & 0x3F);
  }
  return step;
}

// Strict standard UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF.
Step next_utf8(std::span<const std::byte> bytes, std::size_t i) {
  std::uint8_t lead = byte_at(bytes, i);
  if (lead < 0x80) return {lead, 1, nullptr};
  if (lead < 0xC0) return {0, 0, "unexpected continuation byte"};
  if (lead < 0xC2) return {0, 0, "overlong encoding"};
  if (lead >= 0xF8) return {0, 0, "byte 0xF8..0xFF never appears in UTF-8"};
  if (lead >= 0xF5) return {0, 0, "code point above U+10FFFF"};
  std::size_t length = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  Step step = continue_sequence(bytes, i, length, lead & (0x7F >> length));
  if (step.error != nullptr) return step;
  if ((length == 3 && step.value < 0x800) || (length == 4 && step.value < 0x10000)) {
    return {0, 0, "overlong encoding"};
  }
  if (step.value >= 0xD800 && step.value <= 0xDFFF) return {0, 0, "encoded surrogate"};
  if (step.value > 0x10FFFF) return {0, 0, "code point above U+10FFFF"};
  return step;
}

// Java modified UTF-8: one UTF-16 unit per 1..3 bytes. Java's own readUTF also
// accepts a raw 0x00 byte and overlong forms (any 110xxxxx 10xxxxxx pair); we
// accept only the one overlong Java's writeUTF emits, C0 80 for U+0000, and
// reject the others and 0x00, so that each string has exactly one encoding.
Step next_modified_utf8(std::span<const std::byte> bytes, std::size_t i) {
  std::uint8_t lead = byte_at(bytes, i);
  if (lead == 0) return {0, 0, "NUL byte (U+0000 is C0 80 in modified UTF-8)"};
  if (lead < 0x80) return {lead, 1, nullptr};
  if (lead < 0xC0) return {0, 0, "unexpected continuation byte"};
  if (lead >= 0xF0) return {0, 0, "byte 0xF0..0xFF (modified UTF-8 has no 4-byte forms)"};
  std::size_t length = lead < 0xE0 ? 2 : 3;
  Step step = continue_sequence(bytes, i, length, lead & (0x7F >> length));
  if (step.error != nullptr) return step;
  bool overlong = length == 2 ? (step.value < 0x80 && step.value != 0) : step.value < 0x800;
  if (overlong) return {0, 0, "overlong encoding"};
  return step;
}

bool is_high_surrogate(char32_t unit) {
  return unit >= 0xD800 && unit <= 0xDBFF;
}
bool is_low_surrogate(char32_t unit) {
  return unit >= 0xDC00 && unit <= 0xDFFF;
}

std::size_t modified_length(char32_t cp) {
  if (cp == 0) return 2;
  if (cp < 0x80) return 1;
  if (cp < 0x800) return 2;
  if (cp < 0x10000) return 3;
  return 6;
}

// Appends `unit` (U+0000..U+FFFF) in the 1..3 byte form; U+0000 as C0 80.
template <class Out>
void put_unit(Out& out, char32_t unit) {
  using T = typename Out::value_type;
  if (unit != 0 && unit < 0x80) {
    out.push_back(static_cast<T>(unit));
  } else if (unit < 0x800) {
    out.push_back(static_cast<T>(0xC0 | (unit >> 6)));
    out.push_back(static_cast<T>(0x80 | (unit & 0x3F)));
  } else {
    out.push_back(static_cast<T>(0xE0 | (unit >> 12)));
    out.push_back(static_cast<T>(0x80 | ((unit >> 6) & 0x3F)));
    out.push_back(static_cast<T>(0x80 | (unit & 0x3F)));
  }
}

// Appends `cp` in standard UTF-8 (a lone surrogate in its 3-byte form: WTF-8).
void put_utf8(std::string& out, char32_t cp) {
  if (cp == 0) {
    out.push_back('\0');
  } else if (cp < 0x10000) {
    put_unit(out, cp);
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Validates `utf8` and returns the length of its modified UTF-8 form.
Result<std::size_t> measure_modified_utf8(std::string_view utf8) {
  auto bytes = as_bytes(utf8);
  std::size_t total = 0;
  for (std::size_t i = 0; i < bytes.size();) {
    Step step = next_utf8(bytes, i);
    if (step.error != nullptr) {
      return Error(ErrorKind::invalid_argument,
                   "invalid UTF-8 at byte offset " + std::to_string(i) + ": " + step.error);
    }
    total += modified_length(step.value);
    i += step.length;
  }
  return total;
}

// Encodes `utf8`, already validated by measure_modified_utf8().
void encode_modified_utf8(std::string_view utf8, Bytes& out) {
  auto bytes = as_bytes(utf8);
  for (std::size_t i = 0; i < bytes.size();) {
    Step step = next_utf8(bytes, i);
    i += step.length;
    if (step.value < 0x10000) {
      put_unit(out, step.value);
    } else {
      char32_t v = step.value - 0x10000;
      put_unit(out, 0xD800 + (v >> 10));
      put_unit(out, 0xDC00 + (v & 0x3FF));
    }
  }
}

void put_big_endian(Bytes& out, std::uint64_t value, int size) {
  for (int shift = 8 * (size - 1); shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::byte>((value >> shift) & 0xFF));
  }
}

std::string at_offset(std::string_view what, std::size_t offset) {
  return std::string(what) + " at offset " + std::to_string(offset);
}

}  // namespace

Result<void> append_modified_utf8(std::string_view utf8, Bytes& out) {
  auto length = measure_modified_utf8(utf8);
  if (!length) return std::move(length).error();
  out.reserve(out.size() + *length);
  encode_modified_utf8(utf8, out);
  return ok();
}

Result<std::string> decode_modified_utf8(std::span<const std::byte> bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size();) {
    Step step = next_modified_utf8(bytes, i);
    if (step.error != nullptr) {
      return Error(ErrorKind::malformed, "malformed modified UTF-8 at byte offset " +
                                             std::to_string(i) + ": " + step.error);
    }
    i += step.length;
    if (is_high_surrogate(step.value) && i < bytes.size()) {
      Step low = next_modified_utf8(bytes, i);
      if (low.error == nullptr && is_low_surrogate(low.value)) {
        put_utf8(out, 0x10000 + ((step.value - 0xD800) << 10) + (low.value - 0xDC00));
        i += low.length;
        continue;
      }
    }
    put_utf8(out, step.value);
  }
  return out;
}

// ---- DataWriter ----

void DataWriter::write_boolean(bool value) {
  buffer_.push_back(static_cast<std::byte>(value ? 1 : 0));
}

void DataWriter::write_byte(std::int8_t value) {
  buffer_.push_back(static_cast<std::byte>(value));
}

void DataWriter::write_short(std::int16_t value) {
  put_big_endian(buffer_, static_cast<std::uint16_t>(value), 2);
}

void DataWriter::write_char(char16_t value) {
  put_big_endian(buffer_, value, 2);
}

void DataWriter::write_int(std::int32_t value) {
  put_big_endian(buffer_, static_cast<std::uint32_t>(value), 4);
}

void DataWriter::write_long(std::int64_t value) {
  put_big_endian(buffer_, static_cast<std::uint64_t>(value), 8);
}

void DataWriter::write_float(float value) {
  // Float.floatToIntBits: every NaN becomes the canonical quiet NaN.
  std::uint32_t bits = std::isnan(value) ? 0x7fc00000u : std::bit_cast<std::uint32_t>(value);
  put_big_endian(buffer_, bits, 4);
}

void DataWriter::write_double(double value) {
  std::uint64_t bits =
      std::isnan(value) ? 0x7ff8000000000000ull : std::bit_cast<std::uint64_t>(value);
  put_big_endian(buffer_, bits, 8);
}

void DataWriter::write_bytes(std::span<const std::byte> bytes) {
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

Result<void> DataWriter::write_utf(std::string_view utf8) {
  auto length = measure_modified_utf8(utf8);
  if (!length) return std::move(length).error().with_context("write_utf");
  if (*length > kMaxUtfLength) {
    return Error(ErrorKind::too_large, "write_utf: the modified UTF-8 form is " +
                                           std::to_string(*length) + " bytes, more than the " +
                                           std::to_string(kMaxUtfLength) + " allowed");
  }
  buffer_.reserve(buffer_.size() + 2 + *length);
  put_big_endian(buffer_, *length, 2);
  encode_modified_utf8(utf8, buffer_);
  return ok();
}

// On error the buffer is kept: the stream may have sent part of it, and the
// caller decides (usually: close the connection).
Result<void> DataWriter::flush() {
  if (stream_ == nullptr) {
    return Error(ErrorKind::invalid_argument, "flush: this DataWriter has no stream");
  }
  if (buffer_.empty()) return ok();
  auto sent = stream_->write_all(buffer_);
  if (!sent) {
    return std::move(sent).error().with_context("flush of " + std::to_string(buffer_.size()) +
                                                " bytes");
  }
  buffer_.clear();
  return ok();
}

// ---- DataReader ----
//
// Every read is all or nothing: need() makes the whole item available before
// anything is consumed, so after timed_out or would_block the same read can be
// retried. Over a stream, need() asks for at most kReadChunk bytes beyond what
// has arrived, so memory grows only with data actually received (a UTF length
// prefix alone allocates nothing), and it reads only while the item is
// incomplete; each read may return more than the item (read-ahead).

Result<void> DataReader::need(std::size_t n, std::string_view what) {
  while (data_.size() - pos_ < n) {
    std::size_t have = data_.size() - pos_;
    auto ended = [&] {
      return Error(ErrorKind::closed, at_offset(what, consumed_) + ": input ended after " +
                                          std::to_string(have) + " of " + std::to_string(n) +
                                          " bytes");
    };
    if (stream_ == nullptr) return ended();
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
    if (buffer_.empty() && buffer_.capacity() > kKeepCapacity) buffer_ = Bytes();
    std::size_t filled = buffer_.size();
    buffer_.resize(filled + kReadChunk);
    auto got = stream_->read(std::span(buffer_).subspan(filled));
    buffer_.resize(filled + (got ? *got : 0));
    data_ = buffer_;
    if (got && *got == 0) return ended();  // read() promises >= 1 byte; be safe
    if (!got && got.error().is(ErrorKind::closed)) return ended();
    if (!got) return std::move(got).error().with_context(at_offset(what, consumed_));
  }
  return ok();
}

template <class T>
Result<T> DataReader::read_big_endian(std::string_view what) {
  if (auto ready = need(sizeof(T), what); !ready) return std::move(ready).error();
  std::uint64_t value = 0;
  for (std::size_t k = 0; k < sizeof(T); ++k) {
    value = (value << 8) | std::to_integer<std::uint8_t>(data_[pos_ + k]);
  }
  pos_ += sizeof(T);
  consumed_ += sizeof(T);
  return static_cast<T>(value);
}

Result<bool> DataReader::read_boolean() {
  auto b = read_big_endian<std::uint8_t>("read_boolean");
  if (!b) return std::move(b).error();
  return *b != 0;
}

Result<std::int8_t> DataReader::read_byte() {
  return read_big_endian<std::int8_t>("read_byte");
}

Result<std::uint8_t> DataReader::read_unsigned_byte() {
  return read_big_endian<std::uint8_t>("read_unsigned_byte");
}

Result<std::int16_t> DataReader::read_short() {
  return read_big_endian<std::int16_t>("read_short");
}

Result<std::uint16_t> DataReader::read_unsigned_short() {
  return read_big_endian<std::uint16_t>("read_unsigned_short");
}

Result<char16_t> DataReader::read_char() {
  return read_big_endian<char16_t>("read_char");
}

Result<std::int32_t> DataReader::read_int() {
  return read_big_endian<std::int32_t>("read_int");
}

Result<std::int64_t> DataReader::read_long() {
  return read_big_endian<std::int64_t>("read_long");
}

Result<float> DataReader::read_float() {
  auto bits = read_big_endian<std::uint32_t>("read_float");
  if (!bits) return std::move(bits).error();
  return std::bit_cast<float>(*bits);
}

Result<double> DataReader::read_double() {
  auto bits = read_big_endian<std::uint64_t>("read_double");
  if (!bits) return std::move(bits).error();
  return std::bit_cast<double>(*bits);
}

Result<void> DataReader::read_fully(std::span<std::byte> out) {
  if (auto ready = need(out.size(), "read_fully"); !ready) return std::move(ready).error();
  std::copy_n(data_.begin() + static_cast<std::ptrdiff_t>(pos_), out.size(), out.begin());
  pos_ += out.size();
  consumed_ += out.size();
  return ok();
}

// A malformed string is consumed (its length was valid, so the reader stays in
// step with the stream and the next item can be read).
Result<std::string> DataReader::read_utf() {
  if (auto ready = need(2, "read_utf"); !ready) return std::move(ready).error();
  std::size_t length = (std::to_integer<std::size_t>(data_[pos_]) << 8) |
                       std::to_integer<std::size_t>(data_[pos_ + 1]);
  if (auto ready = need(2 + length, "read_utf"); !ready) return std::move(ready).error();
  auto text = decode_modified_utf8(data_.subspan(pos_ + 2, length));
  std::size_t start = consumed_;
  pos_ += 2 + length;
  consumed_ += 2 + length;
  if (!text) return std::move(text).error().with_context(at_offset("read_utf", start));
  return text;
}

}  // namespace nexo::net
