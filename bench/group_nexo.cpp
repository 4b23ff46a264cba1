// bench_group's "nexo" rows: group::Group (group.hpp), the socket driver, as
// a user runs it. The sender is this process: it joins first (port 0: the
// group's port is read back and handed to the receivers), waits until the
// view holds every receiver, then streams with send_async (max_pending 1024
// in flight; at would_block it waits for the oldest request), taking its own
// deliveries as they come. Each receiver process joins the same group on lo,
// says ready once join() returned (it is in a view: every message sent after
// that reaches it), and takes deliveries with receive(). Loss is injected at
// each receiver on what it receives (GroupOptions::faults, Plan::back, seeded
// per receiver), as NORM's NormSetRxLoss does. Default options otherwise
// (detection time 1 s, MemberConfig's window of 1024 unstable messages),
// except the NAK timers, fitted to loopback's round trip (loopback_timers in
// group_bench.hpp), as NORM fits its own to the round trip it measures.
//   nexo        reliable FIFO, 1 KiB messages, 0% and 5% loss;
//   nexo-callback  the same, every member taking its deliveries in
//               GroupOptions::on_deliver on the loop thread instead of receive();
//   nexo-total  total order through the sequencer, 5 members (the sender and
//               4 receivers; one member sends), 64 B messages, 0% loss,
//               2x --messages per round.
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "group_bench.hpp"
#include "nexo/group/group.hpp"

namespace nexo::bench::group {
namespace {

using nexo::group::Group;
using nexo::group::GroupOptions;
using nexo::group::Order;

GroupOptions options_for(const RxSpec& spec, int port) {
  GroupOptions o;
  o.name = "bench_group";
  o.address = net::InetAddress::parse(spec.address).value();
  o.port = static_cast<std::uint16_t>(port);
  o.interface = "lo";
  o.order = spec.impl == "nexo-total" ? Order::total : Order::fifo;
  o.bundle_bytes = static_cast<std::size_t>(spec.datagram);
  loopback_timers(o.reliability);
  if (spec.window > 0) o.reliability.window = static_cast<std::size_t>(spec.window);
  o.reliability.adaptive_repair_timeout = spec.fixed_repair_wait == 0;
  return o;
}

Result<TxResult> stream(Group& group, const RxSpec& spec, Receivers& receivers,
                        Clock::time_point deadline) {
  const auto members = static_cast<std::size_t>(spec.receivers) + 1;
  while (group.view().members.size() < members) {
    if (Clock::now() >= deadline)
      return Error(ErrorKind::timed_out, "nexo: the view never held every receiver");
    static_cast<void>(group.next_view(group.view().id, std::chrono::milliseconds(50)));
  }
  std::vector<std::byte> message(static_cast<std::size_t>(spec.size));
  std::deque<io::Request<void>> pending;
  std::uint64_t next = 1, waits = 0;
  const auto count = static_cast<std::uint64_t>(spec.count);
  while (next <= count && Clock::now() < deadline) {
    stamp(message, next, now_ns());
    auto sent = group.send_async(message);
    if (sent) {
      pending.push_back(std::move(*sent));
      ++next;
    } else if (sent.error().kind() == ErrorKind::would_block && !pending.empty()) {
      ++waits;
      if (auto done = pending.front().wait(); !done) return done.error();
      pending.pop_front();
    } else {
      return sent.error();
    }
    while (!pending.empty() && pending.front().test()) {
      if (auto done = pending.front().wait(); !done) return done.error();
      pending.pop_front();
    }
    while (group.try_receive()) {
    }  // our own deliveries
  }
  while (!receivers.all_reported() && Clock::now() < deadline) {
    while (group.try_receive()) {
    }
    if (!group.receive(std::chrono::milliseconds(5))) {  // nexo-callback: nothing queued
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (!receivers.all_reported()) {
    return Error(ErrorKind::timed_out,
                 "nexo: the round's time ran out, sent " + std::to_string(next - 1));
  }
  const auto k = group.counters().endpoint.reliability;
  return TxResult{spec.impl + " sender: " + std::to_string(k.retransmissions) +
                  " retransmissions, " + std::to_string(k.naks_received) + " NAKs received (and " +
                  std::to_string(k.nak_copies) + " copies of them), " + std::to_string(waits) +
                  " waits for room (max_pending)"};
}

}  // namespace

Result<PreparedSender> prepare_nexo_sender(RxSpec& spec) {
  RxSpec mine = spec;
  GroupOptions o = options_for(mine, 0);
  if (spec.impl == "nexo-callback") o.on_deliver = [](const nexo::group::Delivery&) {};  // own
  auto group = Group::join(o);
  if (!group) return group.error();
  spec.port = (*group)->port();
  std::shared_ptr<Group> shared(std::move(*group));
  return PreparedSender{
      [shared](const RxSpec& s, Receivers& receivers, Clock::time_point deadline) {
        return stream(*shared, s, receivers, deadline);
      }};
}

int run_nexo_receiver(const RxSpec& spec) {
  GroupOptions o = options_for(spec, spec.port);
  if (spec.loss > 0) {
    fault::Plan plan;
    plan.back.loss = spec.loss;
    plan.seed = static_cast<std::uint64_t>(spec.seed) * 31 + static_cast<std::uint64_t>(spec.index);
    o.faults = plan;
  }
  RxRecorder recorder(spec.count);
  // nexo-callback: the loop thread records each delivery; this one waits.
  std::mutex mutex;
  std::condition_variable done;
  std::atomic<nexo::group::MemberId> self{0};  // receivers send nothing: a guard only
  const bool callback = spec.impl == "nexo-callback";
  if (callback) {
    o.on_deliver = [&](const nexo::group::Delivery& d) {
      std::lock_guard lock(mutex);
      if (d.sender == self || recorder.done()) return;
      recorder.on_message(d.payload, d.missing_since);
      if (recorder.done()) done.notify_all();
    };
  }
  auto group = Group::join(o);
  if (!group) {
    std::fprintf(stderr, "nexo receiver: %s\n", group.error().message().c_str());
    return 1;
  }
  self = (*group)->self();
  std::unique_lock lock(mutex, std::defer_lock);
  std::printf("ready\n");
  std::fflush(stdout);
  const auto deadline = Clock::now() + std::chrono::seconds(spec.limit_s);
  if (callback) {
    lock.lock();
    done.wait_until(lock, deadline, [&] { return recorder.done(); });
  } else {
    while (!recorder.done() && Clock::now() < deadline) {
      auto d = (*group)->receive(std::chrono::milliseconds(10));
      if (d && d->sender != (*group)->self()) recorder.on_message(d->payload, d->missing_since);
    }
    lock.lock();
  }
  std::printf("%s", recorder.report().c_str());
  std::printf("kernel_drops=%llu\n",
              static_cast<unsigned long long>((*group)->counters().transport.kernel_drops));
  print_recovery(recorder.recovery(), (*group)->counters().endpoint.reliability.recovery);
  std::fflush(stdout);
  lock.unlock();
  // Linger so that this receiver's last digests and NAKs still go out, then leave.
  const auto linger = Clock::now() + std::chrono::milliseconds(300);
  while (Clock::now() < linger) {
    if (!(*group)->receive(std::chrono::milliseconds(10)) && callback)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  static_cast<void>((*group)->leave(std::chrono::seconds(1)));
  return 0;
}

}  // namespace nexo::bench::group
