// BEP 42 (DHT security extension): a node id bound to the node's external IP
// address, so that an attacker cannot pick ids at will (and place itself next
// to a target key) without owning many addresses.
//
//   masked = ip & mask   (IPv4: the 4 bytes & 03 0f 3f ff; IPv6: the first 8
//                         bytes & 01 03 07 0f 1f 3f 7f ff)
//   masked[0] |= (rand & 7) << 5
//   crc = crc32c(masked)
//   id[0..2] = the top 21 bits of crc (the low 3 bits of id[2] are free),
//   id[3..18] random, id[19] = rand
//
// A receiver recomputes crc from the sender's address and r = id[19] & 7 and
// checks the first 21 bits. Local addresses are exempt (as libtorrent does:
// they are not globally unique and a LAN is not where Sybils come from):
// 127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, ::1, fe80::/10 (link
// local) and fc00::/7 (unique local). An IPv4-mapped IPv6 address counts as
// its IPv4 address. Free functions over values; thread-safe.
#pragma once

#include <cstdint>

#include "nexo/fault/random.hpp"
#include "nexo/net/inet_address.hpp"
#include "nexo/overlay/node_id.hpp"

namespace nexo::overlay {

// True for the addresses exempt from the check (listed above).
bool bep42_exempt(const net::InetAddress& address) noexcept;

// crc32c of the masked address with r = rand & 7 folded in: the value whose
// top 21 bits start a BEP 42 id.
std::uint32_t bep42_crc(const net::InetAddress& address, std::uint8_t rand) noexcept;

// A BEP 42 id for `address`: the crc prefix, `rand` as the last byte, random
// bits (from `rng`) between. Exempt addresses get one too (it then proves
// nothing, but is harmless).
NodeId bep42_node_id(const net::InetAddress& address, std::uint8_t rand,
                     fault::Random& rng) noexcept;

// True when `id` may be used from `address`: the address is exempt, or the
// first 21 bits of `id` match the crc of the address and r = id[19] & 7.
bool bep42_valid(const NodeId& id, const net::InetAddress& address) noexcept;

}  // namespace nexo::overlay
