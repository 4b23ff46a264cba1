// bench_group's "nexo-member" row: nexo's reliable multicast core,
// group::Member (member.hpp), over real sockets, run by a loop of this
// benchmark's own: one net::MulticastSocket per process (bound to the
// session's port, joined on lo, multicast loopback on, 8 MiB buffers,
// non-blocking, recvmmsg batches), the Member's packets sent to the group as
// it hands them out (bundled as group::Group bundles them, bundle.hpp), its
// timers run when due. The view is fixed (the sender
// is member 1, receiver i is member i + 2): no membership, no ordering layer.
// This is not group::Group (the socket driver: the row "nexo"); it is the
// same protocol core without membership, ordering or the io/ loop thread, so
// beside "nexo" it says what the driver adds.
//
// Loss is injected as NORM's NormSetRxLoss injects it: each receiver drops
// that share of the datagrams it reads, independently (seeded), before the
// Member sees them. Defaults of MemberConfig (window 1024 unstable messages,
// heartbeats 100 ms) but the NAK timers, fitted to loopback (loopback_timers:
// NAK back-off at most 1 ms, repair wait at most 4 ms).
#include <poll.h>

#include <array>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "group_bench.hpp"
#include "nexo/group/bundle.hpp"
#include "nexo/group/member.hpp"
#include "nexo/group/packet.hpp"
#include "nexo/net/multicast_socket.hpp"
#include "nexo/net/network_interface.hpp"

namespace nexo::bench::group {
namespace {

using nexo::group::Member;
using nexo::group::MemberConfig;
using nexo::group::MemberId;

constexpr int kSocketBuffer = 8 << 20;
constexpr std::size_t kSlots = 64;

class MemberLoop {
 public:
  static Result<MemberLoop> open(const RxSpec& spec, MemberId self) {
    auto group = net::InetAddress::parse(spec.address);
    if (!group) return group.error();
    auto lo = net::NetworkInterface::loopback();
    if (!lo) return lo.error();
    auto sock = net::MulticastSocket::bind(static_cast<std::uint16_t>(spec.port));
    if (!sock) return sock.error();
    for (auto done :
         {sock->join(*group, *lo), sock->set_interface(*lo), sock->set_loopback(true),
          sock->udp().set_non_blocking(true), sock->udp().set_receive_buffer_size(kSocketBuffer),
          sock->udp().set_send_buffer_size(kSocketBuffer)}) {
      if (!done) return done.error();
    }
    MemberConfig c;
    c.group = nexo::group::group_tag("bench_group");
    c.self = self;
    for (MemberId m = 1; m <= static_cast<MemberId>(spec.receivers) + 1; ++m)
      c.members.push_back(m);
    c.seed = static_cast<std::uint64_t>(spec.seed);
    loopback_timers(c);
    if (spec.window > 0) c.window = static_cast<std::size_t>(spec.window);
    c.adaptive_repair_timeout = spec.fixed_repair_wait == 0;
    auto member = Member::create(c, nexo::group::Clock::now());
    if (!member) return member.error();
    return MemberLoop(std::move(*member), std::move(*sock),
                      net::Endpoint(*group, static_cast<std::uint16_t>(spec.port)), spec.loss,
                      static_cast<std::uint64_t>(spec.seed) * 31 + self,
                      static_cast<std::size_t>(spec.datagram));
  }

  Member& member() noexcept { return member_; }
  std::uint64_t kernel_drops() noexcept { return sock_.udp().kernel_drops(); }

  // Sends what the Member has, waits up to `wait` for datagrams (less if a
  // timer is due sooner), feeds them, runs due timers, and hands each
  // delivery to `deliver`.
  template <class Deliver>
  Result<void> step(std::chrono::microseconds wait, Deliver&& deliver) {
    if (auto sent = transmit(); !sent) return sent;
    auto now = nexo::group::Clock::now();
    if (auto t = member_.next_timer()) {
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::microseconds>(
                                std::max(*t - now, nexo::group::Duration::zero())));
    }
    pollfd p{sock_.udp().native_handle(), POLLIN, 0};
    const timespec ts{0, static_cast<long>(wait.count()) * 1000};
    ::ppoll(&p, 1, &ts, nullptr);
    if (auto got = receive(); !got) return got;
    now = nexo::group::Clock::now();
    if (auto t = member_.next_timer(); t && *t <= now) member_.on_timer(now);
    while (auto d = member_.poll_delivery())
      deliver(*d);
    return transmit();
  }

 private:
  MemberLoop(Member member, net::MulticastSocket sock, net::Endpoint group, double loss,
             std::uint64_t seed, std::size_t datagram)
      : member_(std::move(member)),
        bundle_(datagram),
        sock_(std::move(sock)),
        group_(group),
        loss_(loss),
        random_(seed),
        buffers_(kSlots, std::vector<std::byte>(nexo::group::kMaxPacket)) {}

  // Every packet goes to the group, also those the Member addresses to one
  // member (NAKs to a sender, a repair to its requester: this loop has one
  // socket and no contacts; the others take them as they take multicast ones), bundled
  // as group::Group bundles them: what is queued now, up to
  // --datagram bytes a datagram.
  Result<void> transmit() {
    Bytes out;
    nexo::group::Destination to;
    while (member_.poll_transmit(out, to)) {
      if (!bundle_.fits(out.size())) {
        if (auto sent = send_bundle(); !sent) return sent;
      }
      bundle_.add(out);
    }
    return send_bundle();
  }

  Result<void> send_bundle() {
    if (bundle_.empty()) return ok();
    for (;;) {
      auto sent = sock_.send_to(bundle_.datagram(), group_);
      if (sent) break;
      if (sent.error().kind() != ErrorKind::would_block) return sent.error();
      pollfd p{sock_.udp().native_handle(), POLLOUT, 0};
      ::poll(&p, 1, 1);
    }
    bundle_.clear();
    return ok();
  }

  Result<void> receive() {
    std::array<net::InSlot, kSlots> slots;
    for (;;) {
      for (std::size_t i = 0; i < kSlots; ++i) {
        slots[i] = net::InSlot{};
        slots[i].buffer = buffers_[i];
      }
      auto got = sock_.udp().receive_batch(slots);
      if (!got) {
        return got.error().kind() == ErrorKind::would_block ? ok() : Result<void>(got.error());
      }
      const auto now = nexo::group::Clock::now();
      for (std::size_t i = 0; i < *got; ++i) {
        for (std::size_t k = 0; k < slots[i].count(); ++k) {
          if (loss_ > 0 && std::uniform_real_distribution<double>(0, 1)(random_) < loss_) continue;
          member_.on_packet(slots[i].datagram(k), now);
        }
      }
      if (*got < kSlots) return ok();
    }
  }

  Member member_;
  nexo::group::BundleWriter bundle_;
  net::MulticastSocket sock_;
  net::Endpoint group_;
  double loss_;
  std::mt19937_64 random_;
  std::vector<std::vector<std::byte>> buffers_;
};

}  // namespace

Result<TxResult> run_member_sender(const RxSpec& spec, Receivers& receivers,
                                   Clock::time_point deadline) {
  RxSpec sender = spec;
  sender.loss = 0;  // loss is injected at the receivers only, as for NORM
  auto loop = MemberLoop::open(sender, 1);
  if (!loop) return loop.error();
  std::vector<std::byte> message(static_cast<std::size_t>(spec.size));
  std::uint64_t next = 1, blocked = 0;
  const auto ignore = [](const nexo::group::Delivery&) {};
  while (Clock::now() < deadline) {
    while (next <= static_cast<std::uint64_t>(spec.count)) {
      stamp(message, next, now_ns());
      auto sent = loop->member().send(message, nexo::group::Clock::now());
      if (!sent) {
        if (sent.error().kind() != ErrorKind::would_block) return sent.error();
        ++blocked;
        break;
      }
      ++next;
      if (next % 32 == 0) break;  // let packets out and digests in now and then
    }
    const bool all_sent = next > static_cast<std::uint64_t>(spec.count);
    if (all_sent && receivers.all_reported()) {
      const auto& k = loop->member().counters();
      return TxResult{"nexo-member sender: " + std::to_string(k.retransmissions) +
                      " retransmissions, " + std::to_string(k.naks_received) +
                      " NAKs received (and " + std::to_string(k.nak_copies) + " copies of them), " +
                      std::to_string(k.nak_rate_limited) + " NAKs over the rate limit, " +
                      std::to_string(blocked) + " sends refused (window full)"};
    }
    const auto wait =
        all_sent || blocked ? std::chrono::microseconds(1000) : std::chrono::microseconds(0);
    if (auto stepped = loop->step(wait, ignore); !stepped) return stepped.error();
  }
  return Error(ErrorKind::timed_out,
               "nexo-member: the round's time ran out, sent " + std::to_string(next - 1));
}

int run_member_receiver(const RxSpec& spec) {
  auto loop = MemberLoop::open(spec, static_cast<MemberId>(spec.index) + 2);
  if (!loop) {
    std::fprintf(stderr, "nexo-member receiver: %s\n", loop.error().message().c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  RxRecorder recorder(spec.count);
  const auto deliver = [&](const nexo::group::Delivery& d) {
    if (d.sender == 1) recorder.on_message(d.payload, d.missing_since);
  };
  const auto deadline = Clock::now() + std::chrono::seconds(spec.limit_s);
  while (!recorder.done() && Clock::now() < deadline) {
    if (auto stepped = loop->step(std::chrono::microseconds(10'000), deliver); !stepped) {
      std::fprintf(stderr, "nexo-member receiver: %s\n", stepped.error().message().c_str());
      break;
    }
  }
  std::printf("%s", recorder.report().c_str());
  std::printf("kernel_drops=%llu\n", static_cast<unsigned long long>(loop->kernel_drops()));
  print_recovery(recorder.recovery(), loop->member().counters().recovery);
  std::fflush(stdout);
  // Linger so that this receiver's last digest (stability) and NAKs still go out.
  const auto linger = Clock::now() + std::chrono::milliseconds(300);
  while (Clock::now() < linger) {
    if (!loop->step(std::chrono::microseconds(10'000), deliver)) break;
  }
  return 0;
}

}  // namespace nexo::bench::group
