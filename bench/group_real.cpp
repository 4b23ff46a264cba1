// bench_group, section 1: reliable FIFO multicast over real sockets, 1 sender
// (this process) to --receivers receiver processes, all on one multicast
// group on lo, 1 KiB messages, at 0% and at 5% loss injected independently
// at each receiver. Each round starts fresh receiver processes and a fresh
// session on a group address of its own; the impls take turns, the first one
// rotating from round to round.
//
// Per receiver: messages/s = messages / (its last delivery - the first
// message's send), both on the host's steady clock; whether every message
// arrived once and in order; and the delivery latency of each message (its
// first send to its delivery at this receiver), whose p99 under loss is the
// loss-recovery bound (it includes the wait of messages queued behind a lost
// one, and the sender's own queueing at full rate: an upper bound on the
// recovery time of the lost ones themselves).
#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "group_bench.hpp"

namespace nexo::bench::group {
namespace {

enum Impl : std::size_t { kMember, kNorm, kNormFixed, kPgm };

struct RoundResult {
  bool ran = false, finished = false;
  double mean_rate = 0, min_rate = 0;  // per receiver, messages/s
  double delivered = 0;                // fraction of count x receivers
  int out_of_order = 0;
  double p99_us = 0, p50_us = 0;       // the worst receiver's
  std::string note;
};

struct CaseResult {  // one impl at one loss rate, over the rounds
  Spread mean_rate, min_rate, p99_us, p50_us;
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
  spec.count = o.messages;
  spec.size = static_cast<int>(o.message_size);
  spec.loss = loss;
  spec.seed = o.seed + round;
  spec.limit_s = o.limit_s;
  spec.receivers = o.receivers;
  spec.rate_bps = impl == kNorm ? 0 : (impl == kPgm ? o.pgm_mbps : o.norm_mbps) * 1e6;
  Receivers receivers;
  const auto start = Clock::now();
  if (auto up = receivers.start(o.receivers, spec, start + std::chrono::seconds(10)); !up) {
    return up.error();
  }
  const auto deadline = Clock::now() + std::chrono::seconds(o.limit_s);
  auto sent = sender_of(impl)(spec, receivers, deadline);
  const auto reports = receivers.collect(sent ? deadline : Clock::now() + std::chrono::seconds(1));
  RoundResult r;
  r.ran = true;
  r.finished = true;
  r.note = sent ? sent->note : sent.error().message();
  Spread rates;
  long long delivered = 0;
  for (const RxReport& rep : reports) {
    const double rate = rep.rate(spec.count);
    r.finished = r.finished && rate > 0;
    rates.values.push_back(rate);
    delivered += rep.delivered;
    r.out_of_order += rep.out_of_order;
    r.p99_us = std::max(r.p99_us, rep.p99_us);
    r.p50_us = std::max(r.p50_us, rep.p50_us);
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
  std::printf("%-10s %-5s ", impl, percent(loss).c_str());
  if (!c.error.empty() && c.rounds == 0) {
    std::printf("did not run: %s\n", c.error.c_str());
    return;
  }
  std::printf("%10.0f %21s %10.0f %9.4f%% %6d %9.0f %9.0f %d/%d\n", c.mean_rate.median(),
              (c.mean_rate.range(0)).c_str(), c.min_rate.median(), c.delivered_min * 100.0,
              c.out_of_order, c.p50_us.median(), c.p99_us.median(), c.rounds - c.unfinished,
              c.rounds);
  if (!c.note.empty()) std::printf("%-10s %-5s note: %s\n", impl, percent(loss).c_str(), c.note.c_str());
  if (!c.error.empty()) std::printf("%-10s %-5s error: %s\n", impl, percent(loss).c_str(), c.error.c_str());
  static_cast<void>(count);
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
      "median round\n\n");
  std::printf("%-10s %-5s %10s %21s %10s %10s %6s %9s %9s %s\n", "impl", "loss", "msgs/s",
              "[min..max]", "slowest", "delivered", "ooo", "p50_us", "p99_us", "finished");
  const std::vector<double> losses = {0.0, kLossRate};
  std::map<std::pair<std::size_t, double>, CaseResult> results;
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
        c.delivered_min = std::min(c.delivered_min, r->delivered);
        c.out_of_order += r->out_of_order;
        c.note = r->note;
      }
    }
    for (std::size_t impl : order)
      print_case(o.impls.name(impl), loss, results[{impl, loss}], o.messages);
    std::fflush(stdout);
  }
  std::printf("\nratios (median msgs/s per receiver)\n");
  for (std::size_t impl : order) {
    const double clean = results[{impl, 0.0}].mean_rate.median();
    const double lossy = results[{impl, kLossRate}].mean_rate.median();
    if (clean > 0 && lossy > 0) {
      std::printf("  %-10s @5%% / @0%%: %.3f\n", o.impls.name(impl), lossy / clean);
    } else {
      std::printf("  %-10s @5%% / @0%%: n/a (not run, or did not finish)\n", o.impls.name(impl));
    }
  }
  std::printf(
      "  nexo over real sockets (group::Group, 1 -> %d processes; total order, 5 members, 64 B): "
      "NOT MEASURED in this build: the socket driver is not in this branch yet\n",
      o.receivers);
  std::fflush(stdout);
}

}  // namespace nexo::bench::group
