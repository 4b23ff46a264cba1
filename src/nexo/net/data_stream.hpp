// DataWriter / DataReader — typed data items on a byte stream, in the exact
// encoding of Java's DataOutputStream / DataInputStream, so that a Java program
// on the other end reads what nexo writes and the other way round.
//
// Encoding (all multi-byte values big-endian, "network order"):
//   boolean  1 byte, 0 or 1 (reading: any non-zero byte is true)
//   byte     1 byte;  short/char 2 bytes;  int 4;  long 8
//   float    4 bytes, IEEE 754 bits (Float.floatToIntBits: NaN written as 0x7fc00000)
//   double   8 bytes, IEEE 754 bits (Double.doubleToLongBits: NaN as 0x7ff8000000000000)
//   UTF      2-byte unsigned length N, then N bytes of *modified* UTF-8:
//            U+0000 as C0 80; U+0001..U+007F one byte; up to U+07FF two bytes;
//            up to U+FFFF three bytes; a supplementary character (above U+FFFF) as
//            its UTF-16 surrogate pair, each surrogate in three bytes (6 in all).
// nexo strings are standard UTF-8 on the C++ side; the conversion happens here.
// A Java string holding an unpaired surrogate reads as that surrogate's 3-byte
// form (WTF-8), so nothing Java can write is refused or lost; write_utf takes
// strict UTF-8 only, so such a string cannot be written back unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "nexo/base/bytes.hpp"
#include "nexo/base/result.hpp"
#include "nexo/net/tcp_stream.hpp"

namespace nexo::net {

// Standard UTF-8 → Java modified UTF-8 (appended to `out`).
// Error: invalid_argument naming the byte offset of invalid UTF-8 in `utf8`.
Result<void> append_modified_utf8(std::string_view utf8, Bytes& out);
// Java modified UTF-8 → standard UTF-8.
// Error: malformed naming the byte offset and the reason.
Result<std::string> decode_modified_utf8(std::span<const std::byte> bytes);

// Writes typed items into a buffer; flush() sends the buffer to the stream.
// Without a stream it only builds bytes (see bytes()). Not thread-safe.
class DataWriter {
 public:
  // Builds bytes in memory only.
  DataWriter() = default;
  // Writes to `stream` on flush(); `stream` must outlive the writer.
  explicit DataWriter(TcpStream& stream) : stream_(&stream) {}

  void write_boolean(bool value);
  void write_byte(std::int8_t value);
  void write_short(std::int16_t value);
  void write_char(char16_t value);
  void write_int(std::int32_t value);
  void write_long(std::int64_t value);
  void write_float(float value);
  void write_double(double value);
  // Raw bytes, no length (DataOutputStream.write(byte[])).
  void write_bytes(std::span<const std::byte> bytes);
  // Java's writeUTF. Errors (nothing is written): invalid_argument for invalid
  // UTF-8; too_large when the modified UTF-8 form exceeds 65,535 bytes.
  Result<void> write_utf(std::string_view utf8);

  // Sends everything buffered to the stream and empties the buffer.
  // Errors: those of TcpStream::write_all; invalid_argument without a stream.
  // On error the buffer is kept, and how much of it reached the peer is unknown.
  Result<void> flush();

  // What has been written and not flushed.
  std::span<const std::byte> bytes() const noexcept { return buffer_; }
  std::size_t size() const noexcept { return buffer_.size(); }
  void clear() noexcept { buffer_.clear(); }

 private:
  TcpStream* stream_ = nullptr;
  Bytes buffer_;
};

// Reads typed items from a stream (buffered) or from bytes in memory.
// Over a stream, the reader may read ahead: once you use a DataReader on a
// stream, read that stream only through it. Not thread-safe.
//
// Errors: closed when the stream or the bytes end before the item is complete
// (with the offset and what was being read); malformed for invalid modified
// UTF-8; the stream's own errors (reset, timed_out) otherwise.
// A read is all or nothing: a failed read consumes nothing (so a read that timed
// out can be retried), except a malformed UTF string, which is consumed so the
// next item can be read. Over a stream an item is buffered whole before it is
// handed out. The decoder accepts exactly what Java's writeUTF emits: a raw 0x00
// byte or an overlong form (which Java's readUTF tolerates) is malformed.
class DataReader {
 public:
  // Reads from `bytes`, which must outlive the reader.
  explicit DataReader(std::span<const std::byte> bytes) : data_(bytes) {}
  // Reads from `stream`, which must outlive the reader.
  explicit DataReader(TcpStream& stream) : stream_(&stream) {}

  Result<bool> read_boolean();
  Result<std::int8_t> read_byte();
  Result<std::uint8_t> read_unsigned_byte();
  Result<std::int16_t> read_short();
  Result<std::uint16_t> read_unsigned_short();
  Result<char16_t> read_char();
  Result<std::int32_t> read_int();
  Result<std::int64_t> read_long();
  Result<float> read_float();
  Result<double> read_double();
  // Exactly out.size() raw bytes (DataInputStream.readFully).
  Result<void> read_fully(std::span<std::byte> out);
  // Java's readUTF, returned as standard UTF-8.
  Result<std::string> read_utf();

  // Bytes consumed so far (the offset that errors name).
  std::size_t offset() const noexcept { return consumed_; }

 private:
  // Makes `n` bytes available at data_[pos_..]; `what` names the item for errors.
  Result<void> need(std::size_t n, std::string_view what);
  template <class T>
  Result<T> read_big_endian(std::string_view what);

  TcpStream* stream_ = nullptr;
  std::span<const std::byte> data_;  // the memory input, or a view of buffer_
  Bytes buffer_;                     // read-ahead from the stream
  std::size_t pos_ = 0;              // next unread byte in data_
  std::size_t consumed_ = 0;         // total bytes handed out
};

}  // namespace nexo::net
