// libFuzzer target for the orderers' decoders and state: any sequence of FIFO
// deliveries (application messages with any meta, control messages with any
// meta and payload, from any member of a 4-member view) fed to an orderer of
// any order, as any member, then flush(): nothing is read out of bounds, no
// message is delivered twice or invented, and after flush() every accepted
// application message has been delivered.
//
// Input: byte 0 picks the order (low 2 bits) and self (next 2 bits); then
// records of: flags u8 (bit 0 control, bits 1-2 the sender), meta_len u8,
// payload_len u8, meta, payload.
#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "nexo/group/order.hpp"

namespace {

using namespace nexo;
using namespace nexo::group;

void check(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::vector<MemberId> members{11, 22, 33, 44};
  const auto order = static_cast<Order>(data[0] & 3);
  const MemberId self = members[(data[0] >> 2) & 3];
  auto orderer = make_orderer(order, self, 1, members);
  check(orderer != nullptr);
  std::vector<std::uint64_t> seq(members.size(), 0);
  std::set<std::pair<MemberId, std::uint64_t>> fed, delivered;
  const auto drain = [&] {
    while (auto d = orderer->poll_delivery()) {
      check(!d->control);
      check(fed.count({d->sender, d->seq}) == 1);
      check(delivered.insert({d->sender, d->seq}).second);
    }
    Bytes payload, meta;
    while (orderer->poll_control(payload, meta)) {
    }
  };
  std::size_t at = 1;
  while (at + 3 <= size) {
    const std::uint8_t flags = data[at];
    const std::size_t meta_len = data[at + 1], payload_len = data[at + 2];
    at += 3;
    if (at + meta_len + payload_len > size) break;
    const std::size_t s = (flags >> 1) & 3;
    Delivery d;
    d.sender = members[s];
    d.view = 1;
    d.seq = ++seq[s];
    d.control = (flags & 1) != 0;
    const auto* bytes = reinterpret_cast<const std::byte*>(data + at);
    d.meta.assign(bytes, bytes + meta_len);
    d.payload.assign(bytes + meta_len, bytes + meta_len + payload_len);
    at += meta_len + payload_len;
    if (!d.control) fed.insert({d.sender, d.seq});
    orderer->on_fifo(std::move(d));
    drain();
  }
  orderer->flush();
  drain();
  const OrderCounters& k = orderer->counters();
  check(k.held == 0);
  check(delivered.size() == k.delivered);
  // Every application message fed was delivered or refused (bad_meta).
  check(fed.size() <= k.delivered + k.bad_meta);
  return 0;
}
