// bench_group's NORM anchor (NRL's libnorm, RFC 5740): one sender session in
// this process, one receiver session in each receiver process, all on one
// multicast group on lo. Used as its developer's guide and examples do for a
// reliable message stream:
//   - a NORM_OBJECT_STREAM (in-order, reliable), NormStreamMarkEom after
//     each message; segment size --datagram (default 8 KiB), the size of
//     nexo's bundles: the stream packs consecutive messages into a segment,
//     as nexo packs them into a bundle, so both send datagrams of up to the
//     same size (--datagram=1024: one 1 KiB message a datagram, for both);
//   - no FEC parity (numParity 0: repair by NACK only, as nexo), blocks of 64;
//   - two rate modes, two rows: "norm", TCP-friendly congestion control on
//     (NormSetCongestionControl) within rate bounds of 1 Mbit/s .. 10 Gbit/s
//     (NormSetTxRateBounds), starting at 100 Mbit/s, as the guide recommends
//     on a shared network; "norm-fixed", a fixed rate (--norm-rate, default
//     500 Mbit/s, about 60,000 1 KiB messages/s), as on a dedicated link;
//   - timers at loopback's scale, like nexo's (whose NAK back-off is at most
//     10 ms and repair wait 20 ms): initial GRTT estimate 1 ms, GRTT at most
//     50 ms, NACK back-off factor 0 (the guide's setting for small groups and
//     low latency; it gives up NACK suppression, which 4 receivers barely
//     need). Measured here, under load: with the defaults (GRTT max 10 s,
//     back-off 4) rounds stalled for seconds on watermark acknowledgements;
//   - ACK-based flow control, as normStreamer does for full reliability: the
//     receivers are acking nodes (node ids known), and the sender sets a
//     watermark every quarter of its stream buffer (the last one flushed) and
//     never writes more than half a buffer past the last acknowledged one,
//     so no receiver loses data to the buffer wrapping; a watermark not
//     acknowledged by all is asked again (NormResetWatermark);
//   - receivers sync to the start of the stream (NORM_SYNC_STREAM), 8 MiB
//     socket buffers; loss injected at each receiver by NormSetRxLoss (NORM's
//     own test hook: each receiver drops that share of what it receives,
//     independently);
//   - multicast interface lo, multicast loopback on (sender and receivers
//     share the host), port reuse (several sessions on one port).
// NORM runs a protocol thread per instance beside the application's.
#include <normApi.h>
#include <poll.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "group_bench.hpp"

namespace nexo::bench::group {
namespace {

constexpr UINT32 kStreamBuffer = 4u << 20;     // bytes
constexpr UINT32 kSenderBuffer = 32u << 20;    // NormStartSender's buffer space
constexpr UINT32 kReceiverBuffer = 32u << 20;  // NormStartReceiver's, per sender
constexpr unsigned kSocketBuffer = 8u << 20;

struct NormHandles {
  NormInstanceHandle instance = NORM_INSTANCE_INVALID;
  NormSessionHandle session = NORM_SESSION_INVALID;
  ~NormHandles() {
    if (session != NORM_SESSION_INVALID) NormDestroySession(session);
    if (instance != NORM_INSTANCE_INVALID) NormDestroyInstance(instance);
  }
};

Result<void> open_session(NormHandles& h, const RxSpec& spec, NormNodeId node) {
  h.instance = NormCreateInstance(false);
  if (h.instance == NORM_INSTANCE_INVALID) return Error(ErrorKind::system, "NormCreateInstance failed");
  h.session = NormCreateSession(h.instance, spec.address.c_str(), static_cast<UINT16>(spec.port), node);
  if (h.session == NORM_SESSION_INVALID) return Error(ErrorKind::system, "NormCreateSession failed");
  if (!NormSetMulticastInterface(h.session, "lo")) {
    return Error(ErrorKind::system, "NormSetMulticastInterface lo failed");
  }
  NormSetMulticastLoopback(h.session, true);
  NormSetRxPortReuse(h.session, true);
  return ok();
}

// Waits up to `ms` for the instance's events, then takes every one queued.
template <class Handle>
void take_events(const NormHandles& h, int ms, Handle&& handle) {
  pollfd p{NormGetDescriptor(h.instance), POLLIN, 0};
  if (::poll(&p, 1, ms) <= 0) return;
  NormEvent event;
  while (NormGetNextEvent(h.instance, &event, false))
    handle(event);
}

// The sender's flow control: watermarks every quarter buffer, at most half a
// buffer past the last acknowledged one.
class NormSender {
 public:
  NormSender(NormHandles& h, const RxSpec& spec)
      : h_(h), spec_(spec), message_(static_cast<std::size_t>(spec.size)) {
    const std::size_t per_buffer = kStreamBuffer / static_cast<std::size_t>(spec.size);
    window_ = per_buffer / 2;
    watermark_every_ = per_buffer / 4;
  }

  Result<void> run(NormObjectHandle stream, Receivers& receivers, Clock::time_point deadline) {
    stream_ = stream;
    while (Clock::now() < deadline) {
      write_what_fits();
      if (written_ == count() && !final_flushed_) {
        NormStreamFlush(stream_, true, NORM_FLUSH_ACTIVE);
        final_flushed_ = true;
      }
      maybe_watermark();
      if (written_ == count() && receivers.all_reported()) return ok();
      take_events(h_, written_ == count() ? 5 : 1, [this](const NormEvent& e) { on_event(e); });
    }
    return Error(ErrorKind::timed_out, "norm: the round's time ran out; " + note() +
                                           ", written " + std::to_string(written_) +
                                           ", acknowledged " + std::to_string(acked_));
  }

  std::string note() const {
    char text[160];
    std::snprintf(text, sizeof text,
                  "norm sender: tx rate at the end %.0f Mbit/s, %llu watermarks, %llu refused",
                  NormGetTxRate(h_.session) / 1e6, static_cast<unsigned long long>(watermarks_),
                  static_cast<unsigned long long>(refused_));
    return text;
  }

 private:
  std::size_t count() const { return static_cast<std::size_t>(spec_.count); }

  void write_what_fits() {
    while (written_ < count() && written_ - acked_ < window_) {
      if (partial_ == 0) {
        stamp(message_, written_ + 1, now_ns());
      }
      const auto left = static_cast<unsigned>(message_.size() - partial_);
      const unsigned n = NormStreamWrite(
          stream_, reinterpret_cast<const char*>(message_.data()) + partial_, left);
      partial_ += n;
      if (partial_ < message_.size()) return;  // full: wait for NORM_TX_QUEUE_VACANCY
      NormStreamMarkEom(stream_);
      partial_ = 0;
      ++written_;
    }
  }

  void maybe_watermark() {
    if (watermark_pending_ || written_ == watermark_at_) return;
    if (written_ - watermark_at_ < watermark_every_ && written_ < count()) return;
    NormSetWatermark(h_.session, stream_, written_ == count());  // the last one: flushed
    watermark_at_ = written_;
    watermark_pending_ = true;
    ++watermarks_;
  }

  void on_event(const NormEvent& event) {
    if (event.type != NORM_TX_WATERMARK_COMPLETED) return;
    if (NormGetAckingStatus(h_.session, NORM_NODE_ANY) == NORM_ACK_SUCCESS) {
      acked_ = watermark_at_;
      watermark_pending_ = false;
    } else {
      ++refused_;
      NormResetWatermark(h_.session);  // ask the laggards again
    }
  }

  NormHandles& h_;
  const RxSpec& spec_;
  NormObjectHandle stream_ = NORM_OBJECT_INVALID;
  std::vector<std::byte> message_;
  std::size_t partial_ = 0;
  std::size_t written_ = 0, acked_ = 0, watermark_at_ = 0;
  std::size_t window_ = 0, watermark_every_ = 0;
  bool watermark_pending_ = false, final_flushed_ = false;
  std::uint64_t watermarks_ = 0, refused_ = 0;
};

}  // namespace

Result<TxResult> run_norm_sender(const RxSpec& spec, Receivers& receivers,
                                 Clock::time_point deadline) {
  NormHandles h;
  if (auto opened = open_session(h, spec, 1); !opened) return opened.error();
  if (spec.rate_bps > 0) {
    NormSetTxRate(h.session, spec.rate_bps);
  } else {
    NormSetCongestionControl(h.session, true);
    NormSetTxRateBounds(h.session, 1e6, 10e9);
    NormSetTxRate(h.session, 100e6);
  }
  NormSetGrttEstimate(h.session, 0.001);
  NormSetGrttMax(h.session, 0.05);
  NormSetBackoffFactor(h.session, 0.0);
  NormSetTxSocketBuffer(h.session, kSocketBuffer);
  NormSetGroupSize(h.session, static_cast<unsigned>(spec.receivers));
  for (int i = 0; i < spec.receivers; ++i)  // the acking nodes: node ids index + 2
    NormAddAckingNode(h.session, static_cast<NormNodeId>(i + 2));
  std::srand(static_cast<unsigned>(spec.seed));
  if (!NormStartSender(h.session, static_cast<NormSessionId>(std::rand()), kSenderBuffer,
                       static_cast<UINT16>(spec.datagram), 64, 0)) {
    return Error(ErrorKind::system, "NormStartSender failed");
  }
  NormObjectHandle stream = NormStreamOpen(h.session, kStreamBuffer);
  if (stream == NORM_OBJECT_INVALID) return Error(ErrorKind::system, "NormStreamOpen failed");
  NormSender sender(h, spec);
  auto ran = sender.run(stream, receivers, deadline);
  TxResult result{sender.note()};
  NormStreamClose(stream, false);
  NormStopSender(h.session);
  if (!ran) return ran.error();
  return result;
}

void norm_version(int& major, int& minor, int& patch) {
  NormGetVersion(&major, &minor, &patch);
}

int run_norm_receiver(const RxSpec& spec) {
  NormHandles h;
  if (auto opened = open_session(h, spec, static_cast<NormNodeId>(spec.index + 2)); !opened) {
    std::fprintf(stderr, "norm receiver: %s\n", opened.error().message().c_str());
    return 1;
  }
  NormSetDefaultSyncPolicy(h.session, NORM_SYNC_STREAM);
  std::srand(static_cast<unsigned>(spec.seed * 31 + spec.index));
  if (spec.loss > 0) NormSetRxLoss(h.session, spec.loss * 100.0);
  if (!NormStartReceiver(h.session, kReceiverBuffer)) {
    std::fprintf(stderr, "norm receiver: NormStartReceiver failed\n");
    return 1;
  }
  NormSetRxSocketBuffer(h.session, kSocketBuffer);
  std::printf("ready\n");
  std::fflush(stdout);
  RxRecorder recorder(spec.count);
  std::vector<std::byte> message(static_cast<std::size_t>(spec.size));
  std::size_t have = 0;
  std::uint64_t broken = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(spec.limit_s);
  auto on_event = [&](const NormEvent& event) {
    if (event.type != NORM_RX_OBJECT_UPDATED ||
        NormObjectGetType(event.object) != NORM_OBJECT_STREAM) {
      return;
    }
    for (;;) {
      unsigned n = static_cast<unsigned>(message.size() - have);
      if (!NormStreamRead(event.object, reinterpret_cast<char*>(message.data()) + have, &n)) {
        ++broken;  // data the sender no longer has: lost for good
        have = 0;
        if (!NormStreamSeekMsgStart(event.object)) return;
        continue;
      }
      have += n;
      if (have < message.size()) return;
      recorder.on_message(message);
      have = 0;
    }
  };
  while (!recorder.done() && Clock::now() < deadline)
    take_events(h, 10, on_event);
  std::string report = recorder.report();
  std::printf("%s", report.c_str());
  std::fflush(stdout);
  if (broken > 0) std::fprintf(stderr, "norm receiver %d: stream broken %llu times\n", spec.index,
                               static_cast<unsigned long long>(broken));
  // Linger so that the sender's last watermark gets this receiver's ACK.
  const auto linger = Clock::now() + std::chrono::milliseconds(200);
  while (Clock::now() < linger)
    take_events(h, 10, [](const NormEvent&) {});
  NormStopReceiver(h.session);
  return 0;
}

}  // namespace nexo::bench::group
