// libFuzzer target for the tcp:// frame parser (frame.hpp), as both ends use it:
// the input is cut into frames one after another, as a connection's bytes are.
// parse() never reads past its input; a complete frame lies inside it, carries
// at most max_payload bytes, and append() writes it back to the very same
// bytes; every shorter prefix of it is need_more, with the frame's size known
// once its header is in; malformed says why. Byte 0 picks the payload limit.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "nexo/msg/frame.hpp"

namespace {

using namespace nexo::msg::frame;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

void check_prefixes(std::span<const std::byte> whole, std::size_t max_payload) {
  // Every prefix of a whole frame waits for more; the header alone tells its size.
  for (std::size_t cut = 0; cut < whole.size(); ++cut) {
    Parsed p;
    std::string why;
    check(parse(whole.first(cut), max_payload, p, why) == Status::need_more);
    check(p.size == (cut < kLengthField + 1 ? 0 : whole.size()));
  }
}

// Cuts `input` into frames; returns when it ends, is incomplete or malformed.
void cut_frames(std::span<const std::byte> input, std::size_t max_payload) {
  while (!input.empty()) {
    Parsed f;
    std::string why;
    const Status status = parse(input, max_payload, f, why);
    if (status == Status::malformed) {
      check(!why.empty());
      return;
    }
    if (status == Status::need_more) {
      check(f.size == 0 || f.size > input.size());
      check(f.size == 0 || f.size - header_size(static_cast<Kind>(
                                         std::to_integer<std::uint8_t>(input[kLengthField]))) <=
                               max_payload);
      return;
    }
    check(f.size >= header_size(f.kind) && f.size <= input.size());
    check(f.payload.size() <= max_payload);
    check(f.payload.data() == input.data() + header_size(f.kind));
    check(f.kind != kAck || f.payload.empty());
    nexo::Bytes again;
    append(again, f.kind, f.id, f.payload);
    check(std::ranges::equal(again, input.first(f.size)));
    if (f.size <= 64) check_prefixes(input.first(f.size), max_payload);
    input = input.subspan(f.size);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  constexpr std::size_t kLimits[] = {0, 1, 16, 1024, 16u << 20};
  const std::size_t max_payload = kLimits[data[0] % std::size(kLimits)];
  cut_frames(std::span(reinterpret_cast<const std::byte*>(data) + 1, size - 1), max_payload);
  return 0;
}
