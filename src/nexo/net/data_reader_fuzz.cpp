// libFuzzer target for net::DataReader (Java DataInputStream's encoding).
//
// Input: byte 0 holds the number of reads (low 5 bits), the next bytes choose
// each read (one of the twelve below; read_fully's length is the byte / 12), and the rest is the data read.
// The same reads are done twice, from the bytes in memory and from a stream
// (a socket pair, so the reader's read-ahead and refills run too), and must
// agree exactly: same values, same error kinds, same offsets. Each read is
// all or nothing: a failure consumes nothing, but for a malformed string
// (consumed whole); a success advances by the item's size. Whatever read_utf
// decodes and write_utf accepts is written back to the very same bytes, and a
// fixed-size value writes back to the bytes it came from.
#include <sys/socket.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "nexo/net/data_stream.hpp"
#include "nexo/net/tcp_stream.hpp"

namespace {

using namespace nexo;
using net::DataReader;
using net::DataWriter;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

// What one read gave: its value as the bytes it writes back to, or its error.
struct Outcome {
  bool ok = false;
  ErrorKind kind = ErrorKind::system;
  Bytes value;
  std::size_t offset_after = 0;
  bool operator==(const Outcome&) const = default;
};

constexpr int kReads = 12;

template <class T, class W>
void record(Result<T> got, W write, Outcome& out) {
  out.ok = got.has_value();
  if (!got) {
    out.kind = got.error().kind();
    return;
  }
  DataWriter w;
  write(w, *got);
  out.value.assign(w.bytes().begin(), w.bytes().end());
}

Outcome read_one(DataReader& r, int which, std::size_t fully) {
  Outcome o;
  switch (which) {
    case 0: record(r.read_boolean(), [](DataWriter& w, bool v) { w.write_boolean(v); }, o); break;
    case 1: record(r.read_byte(), [](DataWriter& w, std::int8_t v) { w.write_byte(v); }, o); break;
    case 2:
      record(r.read_unsigned_byte(),
             [](DataWriter& w, std::uint8_t v) { w.write_byte(static_cast<std::int8_t>(v)); }, o);
      break;
    case 3: record(r.read_short(), [](DataWriter& w, std::int16_t v) { w.write_short(v); }, o); break;
    case 4:
      record(r.read_unsigned_short(),
             [](DataWriter& w, std::uint16_t v) { w.write_short(static_cast<std::int16_t>(v)); }, o);
      break;
    case 5: record(r.read_char(), [](DataWriter& w, char16_t v) { w.write_char(v); }, o); break;
    case 6: record(r.read_int(), [](DataWriter& w, std::int32_t v) { w.write_int(v); }, o); break;
    case 7: record(r.read_long(), [](DataWriter& w, std::int64_t v) { w.write_long(v); }, o); break;
    case 8:  // through the bits: write_float would turn every NaN into one
      record(r.read_float(),
             [](DataWriter& w, float v) { w.write_int(std::bit_cast<std::int32_t>(v)); }, o);
      break;
    case 9:
      record(r.read_double(),
             [](DataWriter& w, double v) { w.write_long(std::bit_cast<std::int64_t>(v)); }, o);
      break;
    case 10: {
      Bytes buffer(fully);
      auto got = r.read_fully(buffer);
      o.ok = got.has_value();
      if (!got) o.kind = got.error().kind();
      else o.value = buffer;
      break;
    }
    default: {  // read_utf
      const std::size_t before = r.offset();
      auto got = r.read_utf();
      o.ok = got.has_value();
      if (!got) {
        o.kind = got.error().kind();
        break;
      }
      DataWriter w;
      if (w.write_utf(*got)) {  // strict UTF-8 (no lone surrogate): writes back the same length
        o.value.assign(w.bytes().begin(), w.bytes().end());
        check(o.value.size() == r.offset() - before);
      }
      break;
    }
  }
  o.offset_after = r.offset();
  return o;
}

// The item sizes the offsets must advance by (0: variable).
constexpr std::size_t kSize[kReads] = {1, 1, 1, 2, 2, 2, 4, 8, 4, 8, 0, 0};
constexpr int kReadFully = 10;

std::vector<Outcome> run(DataReader& r, std::span<const std::uint8_t> script,
                         std::span<const std::byte> data) {
  std::vector<Outcome> outcomes;
  for (std::uint8_t op : script) {
    const int which = op % kReads;
    const std::size_t fully = op / kReads;  // 0..21 bytes for read_fully
    const std::size_t before = r.offset();
    Outcome o = read_one(r, which, fully);
    if (o.ok) {
      const std::size_t size = which == kReadFully ? fully : kSize[which];
      if (size != 0) check(o.offset_after == before + size);
      if (size != 0 && which != 0) {  // fixed-size values write back to their bytes
        check(std::ranges::equal(o.value, data.subspan(before, size)));
      }
    } else if (o.kind != ErrorKind::malformed) {
      check(o.offset_after == before);  // all or nothing
    }
    check(r.offset() <= data.size());
    outcomes.push_back(std::move(o));
  }
  return outcomes;
}

// The same data from a stream: a socket pair whose writing end is shut after the data.
std::vector<Outcome> run_on_stream(std::span<const std::uint8_t> script,
                                   std::span<const std::byte> data) {
  int fds[2];
  check(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  auto reading = net::TcpStream::adopt(net::FileDescriptor(fds[0]));
  auto writing = net::TcpStream::adopt(net::FileDescriptor(fds[1]));
  check(reading.has_value() && writing.has_value());
  check(writing->write_all(data).has_value());
  writing->close();  // the reader sees the end of the stream after the data
  DataReader r(*reading);
  return run(r, script, data);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t reads = std::min<std::size_t>(bytes[0] & 31u, size - 1);
  const std::span<const std::uint8_t> script(bytes + 1, reads);
  const std::span<const std::byte> data(reinterpret_cast<const std::byte*>(bytes + 1 + reads),
                                        size - 1 - reads);
  DataReader in_memory(data);
  const auto from_memory = run(in_memory, script, data);
  if (data.size() <= 64 * 1024) check(from_memory == run_on_stream(script, data));

  // The converters on their own: valid UTF-8 survives the round trip.
  const std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
  Bytes modified;
  if (net::append_modified_utf8(text, modified)) {
    auto back = net::decode_modified_utf8(modified);
    check(back.has_value() && *back == text);
  }
  (void)net::decode_modified_utf8(data);
  return 0;
}
