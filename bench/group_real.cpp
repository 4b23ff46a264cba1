// bench_group, section 1: reliable FIFO multicast over real sockets, 1 sender
// (this process) to --receivers receiver processes, all on one multicast
// group on lo, 1 KiB messages, at 0% and at 5% loss injected independently
// at each receiver. Datagrams of up to --datagram bytes on both sides: nexo
// bundles the packets it has queued (bundle.hpp), NORM packs its stream into
// segments of that size; OpenPGM sends one message a packet (it has no such
// option). Each round starts fresh receiver processes and a fresh
// session on a group address of its own; the impls take turns, the first one
// rotating from round to round. A round not done within --limit seconds did
// not finish (what it delivered is printed); that impl is not run again at
// that loss rate, and has no rate in the ratios.
//
// Per receiver: messages/s = messages / (its last delivery - the first
// message's send), both on the host's steady clock; whether every message
// arrived once and in order; and the delivery latency of each message (its
// first send to its delivery at this receiver), whose p99 under loss is the
// loss-recovery bound (it includes the wait of messages queued behind a lost
// one, and the sender's own queueing at full rate: an upper bound on the
// recovery time of the lost ones themselves).
#include <algorithm>
#include <array>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "group_bench.hpp"

namespace nexo::bench::group {
namespace {

enum Impl : std::size_t { kNexo, kNexoTotal, kMember, kNexoCallback, kNorm, kNormFixed, kPgm };
constexpr std::size_t kTotalSize = 64;  // nexo-total's messages

struct RoundResult {
  bool ran = false, finished = false;
  double mean_rate = 0, min_rate = 0;  // per receiver, messages/s
  double delivered = 0;                // fraction of count x receivers
  int out_of_order = 0;
  double p99_us = 0, p50_us = 0;  // the worst receiver's
  double recovery_p99_us = -1;    // the worst receiver's (nexo rows; -1: not measured)
  std::string note;
};

struct CaseResult {  // one impl at one loss rate, over the rounds
  Spread mean_rate, min_rate, p99_us, p50_us, recovery_p99_us;
  double delivered_min = 1.0;
  int out_of_order = 0, unfinished = 0, rounds = 0;
  std::string note, error;
};

using SenderFn = std::function<Result<TxResult>(const RxSpec&, Receivers&, Clock::time_point)>;

SenderFn sender_of(std::size_t impl) {
  switch (impl) {
    case kPgm:
      return run_pgm_sender;
    case kMember:
      return run_member_sender;
    default:
      return run_norm_sender;
  }
}

Result<RoundResult> run_round(std::size_t impl, const Options& o, double loss, int round) {
  PortReservation reservation;
  auto port = reservation.open();
  if (!port) return port.error();
  RxSpec spec;
  spec.impl = o.impls.name(impl);
  spec.address = group_address(round);
  spec.port = *port;
  spec.count = impl == kNexoTotal ? 2 * o.messages : o.messages;
  spec.size = static_cast<int>(impl == kNexoTotal ? kTotalSize : o.message_size);
  spec.loss = loss;
  spec.seed = o.seed + round;
  spec.limit_s = o.limit_s;
  spec.receivers = o.receivers;
  spec.datagram = o.datagram;
  spec.window = o.window;
  spec.fixed_repair_wait = o.fixed_repair_wait ? 1 : 0;
  spec.rate_bps = impl == kNorm ? 0 : (impl == kPgm ? o.pgm_mbps : o.norm_mbps) * 1e6;
  SenderFn send = sender_of(impl);
  if (impl == kNexo || impl == kNexoTotal || impl == kNexoCallback) {
    auto prepared = prepare_nexo_sender(spec);  // joins first: the group's port is its
    if (!prepared) return prepared.error();
    send = std::move(prepared->run);
  }
  Receivers receivers;
  const auto start = Clock::now();
  if (auto up = receivers.start(o.receivers, spec, start + std::chrono::seconds(10)); !up) {
    return up.error();
  }
  const auto deadline = Clock::now() + std::chrono::seconds(o.limit_s);
  auto sent = send(spec, receivers, deadline);
  const auto reports = receivers.collect(sent ? deadline : Clock::now() + std::chrono::seconds(1));
  RoundResult r;
  r.ran = true;
  r.finished = true;
  r.note = sent ? sent->note : sent.error().message();
  Spread rates;
  long long delivered = 0, kernel_drops = -1;
  double member_recovery_p99_us = -1;
  for (const RxReport& rep : reports) {
    if (rep.kernel_drops >= 0) kernel_drops = std::max(kernel_drops, 0LL) + rep.kernel_drops;
    const double rate = rep.rate(spec.count);
    r.finished = r.finished && rate > 0;
    rates.values.push_back(rate);
    delivered += rep.delivered;
    r.out_of_order += rep.out_of_order;
    r.p99_us = std::max(r.p99_us, rep.p99_us);
    r.p50_us = std::max(r.p50_us, rep.p50_us);
    if (rep.recovery_count > 0)
      r.recovery_p99_us = std::max(r.recovery_p99_us, rep.recovery_p99_us);
    member_recovery_p99_us = std::max(member_recovery_p99_us, rep.member_recovery_p99_us);
  }
  if (kernel_drops >= 0)
    r.note += "; receivers' kernel drops (receive buffer full): " + std::to_string(kernel_drops);
  if (r.recovery_p99_us >= 0 && member_recovery_p99_us >= 0) {
    r.note +=
        "; recovery p99 up to the Member's own delivery (before the hand-over to the "
        "application): " +
        std::to_string(static_cast<long long>(member_recovery_p99_us)) + " us";
  }
  double sum = 0;
  for (double v : rates.values)
    sum += v;
  r.mean_rate = rates.values.empty() ? 0 : sum / static_cast<double>(rates.values.size());
  r.min_rate = rates.min();
  r.delivered = static_cast<double>(delivered) / (static_cast<double>(spec.count) * o.receivers);
  return r;
}

void print_case(const char* impl, double loss, const CaseResult& c, int count) {
  std::printf("%-13s %-5s ", impl, percent(loss).c_str());
  if (!c.error.empty() && c.rounds == 0) {
    std::printf("did not run: %s\n", c.error.c_str());
    return;
  }
  std::printf("%10.0f %21s %10.0f %9.4f%% %6d %9.0f %9.0f %10s %d/%d\n", c.mean_rate.median(),
              (c.mean_rate.range(0)).c_str(), c.min_rate.median(), c.delivered_min * 100.0,
              c.out_of_order, c.p50_us.median(), c.p99_us.median(),
              c.recovery_p99_us.values.empty()
                  ? "-"
                  : std::to_string(static_cast<long long>(c.recovery_p99_us.median())).c_str(),
              c.rounds - c.unfinished, c.rounds);
  if (!c.note.empty())
    std::printf("%-13s %-5s note: %s\n", impl, percent(loss).c_str(), c.note.c_str());
  if (!c.error.empty())
    std::printf("%-13s %-5s error: %s\n", impl, percent(loss).c_str(), c.error.c_str());
  static_cast<void>(count);
}

using Results = std::map<std::pair<std::size_t, double>, CaseResult>;

// The headline: nexo (group::Group) and nexo-member beside each anchor at
// each loss rate, and the targets beside the figures.
void print_ratios(const Options& o, Results& results) {
  const auto median = [&](std::size_t impl, double loss) {
    auto it = results.find({impl, loss});
    return it == results.end() || it->second.unfinished > 0 ? 0.0 : it->second.mean_rate.median();
  };
  std::printf(
      "\nheadline (median msgs/s per receiver, 1 -> %d processes, 1 KiB messages, datagrams of "
      "up to %d bytes for nexo (bundles) and NORM (segments), one message each for pgm). nexo "
      "is group::Group "
      "as a user runs it (membership, FIFO order, io/ loop thread), taking deliveries with "
      "receive() on the application's thread; nexo-callback the same Group taking them in "
      "GroupOptions::on_deliver on its loop thread (JGroups' way: no hand-over, no second "
      "thread); nexo-member is its core, "
      "group::Member, on a loop of this benchmark's own (no membership, no ordering layer): "
      "less than Group does. Both do less than NORM: no congestion control, and stability "
      "digests instead of NORM's end-to-end acknowledged watermarks; where they win, that is "
      "part of why\n",
      o.receivers, o.datagram);
  for (std::size_t nexo : {kNexo, kNexoCallback, kMember}) {
    for (double loss : {0.0, kLossRate}) {
      const double mine = median(nexo, loss);
      std::printf("  loss %-3s %-13s %6.0f", percent(loss).c_str(), o.impls.name(nexo), mine);
      for (std::size_t anchor : {kNorm, kNormFixed, kPgm}) {
        const double a = median(anchor, loss);
        if (mine > 0 && a > 0) {
          std::printf("  /%s %.2f", o.impls.name(anchor), mine / a);
        } else {
          std::printf("  /%s n/a", o.impls.name(anchor));
        }
      }
      std::printf("\n");
    }
  }
  double best_anchor = 0;
  for (std::size_t anchor : {kNorm, kNormFixed, kPgm})
    best_anchor = std::max(best_anchor, median(anchor, 0.0));
  for (std::size_t nexo : {kNexo, kNexoCallback, kMember}) {
    const double clean = median(nexo, 0.0), lossy = median(nexo, kLossRate);
    const auto& at5 = results[{nexo, kLossRate}];
    std::printf("  targets, %s: >= 150000 msgs/s at 0%%: %.0f %s; >= the best anchor (%.0f): %s; ",
                o.impls.name(nexo), clean, verdict(clean >= 150'000), best_anchor,
                best_anchor > 0 ? verdict(clean >= best_anchor) : "n/a");
    std::printf("at 5%%: 100%% delivered: %.4f%% %s; >= 50%% of the 0%% rate: %.3f %s; ",
                at5.delivered_min * 100, verdict(at5.rounds > 0 && at5.delivered_min >= 1.0),
                ratio(lossy, clean), verdict(ratio(lossy, clean) >= 0.5));
    const bool measured = !at5.recovery_p99_us.values.empty();
    std::array<char, 32> recovery{"n/a"};
    if (measured)
      std::snprintf(recovery.data(), recovery.size(), "%.1f ms",
                    at5.recovery_p99_us.median() / 1e3);
    std::printf(
        "loss recovery p99 (found missing -> received by the application) <= 20 ms: %s %s "
        "(delivery p99, "
        "first send -> delivery, the sender's queueing included: %.1f ms)\n",
        recovery.data(), verdict(measured && at5.recovery_p99_us.median() <= 20'000),
        at5.p99_us.median() / 1e3);
  }
  const double total = median(kNexoTotal, 0.0);
  if (total > 0) {
    std::printf(
        "  targets, nexo-total (total order through the sequencer, %d members, %zu B, one "
        "sender): >= 100000 ordered msgs/s per member: %.0f %s\n",
        o.receivers + 1, kTotalSize, total, verdict(total >= 100'000));
  } else {
    std::printf(
        "  targets, nexo-total (total order through the sequencer): n/a (not run, or did not "
        "finish)\n");
  }
  for (std::size_t impl : o.impls.chosen()) {
    const double c = median(impl, 0.0), l = median(impl, kLossRate);
    if (c > 0 && l > 0) {
      std::printf("  %-13s @5%% / @0%%: %.3f\n", o.impls.name(impl), l / c);
    } else {
      std::printf("  %-13s @5%% / @0%%: n/a (not run, or did not finish)\n", o.impls.name(impl));
    }
  }
}

}  // namespace

void run_real(const Options& o) {
  std::printf(
      "\n== 1. reliable FIFO multicast over real sockets: 1 sender -> %d receiver processes, "
      "%zu-byte messages, group on lo (239.255.0.0/16, port from a held reservation)\n",
      o.receivers, o.message_size);
  std::printf(
      "%d messages per round, %d rounds per loss rate, impls rotating; loss injected at each "
      "receiver independently (seed %d + round); a round has %d s\n",
      o.messages, o.rounds, o.seed, o.limit_s);
  std::printf(
      "msgs/s: per receiver, messages / (its last delivery - first send), mean over the "
      "receivers, median round [min..max]; slowest: the slowest receiver (median round); "
      "delivered: the worst round's share of count x receivers; ooo: deliveries out of FIFO "
      "order (gaps, duplicates); p50/p99 us: first send to delivery, the worst receiver, "
      "median round; rec_p99_us: loss recovery as nexo's applications see it (each message "
      "its receiver found missing, from then until the application received it; "
      "Delivery::missing_since), p99 of the worst "
      "receiver, median round (-: not measured)\n\n");
  std::printf("%-13s %-5s %10s %21s %10s %10s %6s %9s %9s %10s %s\n", "impl", "loss", "msgs/s",
              "[min..max]", "slowest", "delivered", "ooo", "p50_us", "p99_us", "rec_p99_us",
              "finished");
  const std::vector<double> losses = {0.0, kLossRate};
  Results results;
  const auto order = o.impls.chosen();
  for (double loss : losses) {
    for (int round = 0; round < o.rounds; ++round) {
      for (std::size_t step = 0; step < order.size(); ++step) {
        const std::size_t impl = order[(static_cast<std::size_t>(round) + step) % order.size()];
        CaseResult& c = results[{impl, loss}];
        if (impl == kPgm && loss > 0) {
          c.error = "no loss-injection hook in OpenPGM (0% only)";
          continue;
        }
        if (impl == kNexoTotal && loss > 0) {
          c.error = "total order is measured at 0% only";
          continue;
        }
        if (c.unfinished > 0) continue;  // did not finish once: not run again at this rate
        auto r = run_round(impl, o, loss, round);
        if (!r) {
          c.error = r.error().message();
          continue;
        }
        ++c.rounds;
        if (!r->finished) ++c.unfinished;
        c.mean_rate.values.push_back(r->mean_rate);
        c.min_rate.values.push_back(r->min_rate);
        c.p99_us.values.push_back(r->p99_us);
        c.p50_us.values.push_back(r->p50_us);
        if (r->recovery_p99_us >= 0) c.recovery_p99_us.values.push_back(r->recovery_p99_us);
        c.delivered_min = std::min(c.delivered_min, r->delivered);
        c.out_of_order += r->out_of_order;
        c.note = r->note;
      }
    }
    for (std::size_t impl : order)
      print_case(o.impls.name(impl), loss, results[{impl, loss}], o.messages);
    std::fflush(stdout);
  }
  print_ratios(o, results);
  std::fflush(stdout);
}

}  // namespace nexo::bench::group
