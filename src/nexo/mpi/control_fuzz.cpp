// libFuzzer target for the control protocol's decoders (control.hpp): any byte stream, split
// into messages by ControlDecoder and each body given to every decoder, and the rank
// environment's parser over values taken from the input. Nothing is read out of bounds,
// nothing is allocated beyond the limits, and whatever decodes encodes back to the same bytes.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "nexo/mpi/control.hpp"

namespace {

using namespace nexo;
using namespace nexo::mpi;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

// A decoded message encodes back to its own body (the format has one encoding per value).
template <class T, class Encode>
void round_trip(const Result<T>& decoded, std::span<const std::byte> body, Encode encode) {
  if (!decoded) return;
  auto again = encode(*decoded);
  check(again.has_value());
  check(again->size() == body.size() + kControlHeaderSize);
  check(std::equal(body.begin(), body.end(), again->begin() + kControlHeaderSize));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  ControlDecoder decoder(4096);
  // Fed in two pieces, so a message split across reads is exercised.
  decoder.feed(input.first(size / 2));
  decoder.feed(input.subspan(size / 2));
  for (int i = 0; i < 64; ++i) {
    auto m = decoder.next();
    if (!m || !m->has_value()) break;
    const std::span<const std::byte> body((*m)->body);
    round_trip(decode_hello(body), body, encode_hello);
    round_trip(decode_table(body), body, encode_table);
    round_trip(decode_abort(body), body, encode_abort);
    round_trip(decode_refused(body), body,
               [](const std::string& why) { return encode_refused(why); });
    (void)decode_empty(ControlType::finalized, body);
  }
  // The environment: NUL-separated values for the variables, in their order.
  const char* names[] = {kEnvRank,      kEnvSize, kEnvJob,       kEnvControl,
                         kEnvHost,      kEnvShm,  kEnvLocalRank, kEnvLocalSize,
                         kEnvTransport, kEnvBind, kEnvTrace};
  std::string values[std::size(names)];
  std::size_t at = 0;
  for (auto& v : values) {
    while (at < size && data[at] != 0)
      v += static_cast<char>(data[at++]);
    ++at;
  }
  auto env = parse_rank_env([&](const char* name) -> const char* {
    for (std::size_t i = 0; i < std::size(names); ++i)
      if (std::string(name) == names[i])
        return values[i].empty() && i > 0 ? nullptr : values[i].c_str();
    return nullptr;
  });
  if (env && env->has_value()) check((*env)->rank < (*env)->size);
  return 0;
}
