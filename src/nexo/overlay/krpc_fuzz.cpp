// libFuzzer target: the KRPC parser. Arbitrary bytes either parse or are refused with an
// error (never a crash or an over-read). A message that parses re-encodes, through the
// direct encoder, to bytes that parse to the same message, and that equal the bencode
// tree's encoding of it (to_value()); rejection() and transaction_of() agree with parse().
#include <cstdlib>

#include "nexo/overlay/krpc.hpp"

namespace {

using namespace nexo;
using namespace nexo::overlay;

void check(std::span<const std::byte> input, const krpc::Options& options) {
  auto message = krpc::parse(input, options);
  auto rejected = krpc::rejection(input, options);
  if (!message) {
    if (rejected && krpc::transaction_of(input) != rejected->tid) std::abort();
    return;
  }
  if (rejected) std::abort();  // parsed: nothing to reject
  if (krpc::transaction_of(input) != message->tid) std::abort();

  wire::Buffer out;
  krpc::encode(*message, options, out);
  if (out.text() != as_text(wire::bencode::encode(krpc::to_value(*message, options)))) std::abort();
  auto again = krpc::parse(out.bytes(), options);
  if (!again) std::abort();
  // Re-encoded with our network id, the message is ours whatever it was before.
  again->network = message->network;
  if (!(*again == *message)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  check(input, krpc::Options{});
  check(input, krpc::Options{"nexo-test"});
  return 0;
}
