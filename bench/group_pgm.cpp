// bench_group's OpenPGM anchor (libpgm 5.3, RFC 3208 PGM): one send-only
// socket in this process, one receive-only socket in each receiver process, on
// one multicast group on lo, set up as OpenPGM's own example programs (purinsend,
// pgmrecv) set it up:
//   - UDP encapsulation (no raw sockets needed), the same port for unicast and
//     multicast, multicast loopback on (sender and receivers share the host),
//     interface lo, named by its address ("127.0.0.1;239.255.x.y": OpenPGM
//     refuses lo by name, which lacks the MULTICAST flag);
//   - MTU 1500 (a 1 KiB message per packet, no fragmentation), a transmit
//     window of 65,536 sequence numbers (the repair history; more than a round
//     sends, so no repair is ever refused) and a receive window as large;
//   - PGM has no congestion control unless PGMCC is enabled, and no flow
//     control: a fixed rate (PGM_TXW_MAX_RTE), --pgm-rate, default 200 Mbit/s
//     (about 24,000 1 KiB messages/s). Measured on this machine (2 cores, 4
//     receivers): at 500 Mbit/s the receivers fall behind the window and lose
//     data for good ("resets"), at 200 they get everything; 200 is the
//     highest of 100/200/500 that delivered it all;
//   - SPMs every 100 ms (PGM_AMBIENT_SPM): a receiver can NAK only once an
//     SPM told it the sender's address, and with the examples' 30 s a loss
//     early in a round went unrepaired;
//   - receivers: NAK back-off 10 ms (as nexo's), NAK repeat and RDATA waits
//     20 ms (nexo's repair_timeout), 50 retries each, as the examples;
//   - the sender reads its socket (pgm_recv, non-blocking) whenever it cannot
//     send, so NAKs are answered.
// OpenPGM has no loss-injection hook (NORM's NormSetRxLoss has no
// counterpart), so it runs at 0% loss only. Weak: under load its receivers
// still declare data lost for good ("resets"), even at 100 Mbit/s, while one
// receiver alone gets everything. A guess, not verified: its NAKs are unicast
// to the port every receiver on this host also binds (SO_REUSEADDR), so the
// kernel may hand a NAK to a receiver instead of the sender.
// The poll() entry points are declared only under HAVE_POLL (the library has them).
#define HAVE_POLL 1
#include <pgm/pgm.h>
#include <poll.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "group_bench.hpp"

namespace nexo::bench::group {
namespace {

constexpr int kMtu = 1500;
constexpr int kWindow = 65'536;

struct PgmSocket {
  pgm_sock_t* sock = nullptr;
  ~PgmSocket() {
    if (sock != nullptr) pgm_close(sock, true);
  }
};

std::string take_error(pgm_error_t*& error, const char* what) {
  std::string out = std::string("pgm ") + what + ": " + (error ? error->message : "failed");
  if (error) pgm_error_free(error);
  error = nullptr;
  return out;
}

template <class T>
void set(pgm_sock_t* sock, int option, const T& value) {
  pgm_setsockopt(sock, IPPROTO_PGM, option, &value, sizeof value);
}

Result<void> open_socket(PgmSocket& s, const RxSpec& spec, bool sender) {
  pgm_error_t* error = nullptr;
  if (!pgm_init(&error)) return Error(ErrorKind::system, take_error(error, "init"));
  pgm_min_log_level = PGM_LOG_LEVEL_ERROR;  // not its warnings that lo is a loopback device
  const std::string network = "127.0.0.1;" + spec.address;
  pgm_addrinfo_t* res = nullptr;
  if (!pgm_getaddrinfo(network.c_str(), nullptr, &res, &error)) {
    return Error(ErrorKind::system, take_error(error, "getaddrinfo"));
  }
  const sa_family_t family = res->ai_send_addrs[0].gsr_group.ss_family;
  if (!pgm_socket(&s.sock, family, SOCK_SEQPACKET, IPPROTO_UDP, &error)) {
    pgm_freeaddrinfo(res);
    return Error(ErrorKind::system, take_error(error, "socket"));
  }
  set(s.sock, PGM_UDP_ENCAP_UCAST_PORT, spec.port);
  set(s.sock, PGM_UDP_ENCAP_MCAST_PORT, spec.port);
  set(s.sock, PGM_IP_ROUTER_ALERT, 0);
  set(s.sock, PGM_MTU, kMtu);
  if (sender) {
    set(s.sock, PGM_SEND_ONLY, 1);
    set(s.sock, PGM_TXW_SQNS, kWindow);
    set(s.sock, PGM_TXW_MAX_RTE, static_cast<int>(spec.rate_bps / 8));  // bytes/s
    set(s.sock, PGM_AMBIENT_SPM, static_cast<int>(pgm_msecs(100)));
    const std::array<int, 9> heartbeat = {
        static_cast<int>(pgm_msecs(100)), static_cast<int>(pgm_msecs(100)),
        static_cast<int>(pgm_msecs(100)), static_cast<int>(pgm_msecs(100)),
        static_cast<int>(pgm_msecs(1300)), static_cast<int>(pgm_secs(7)),
        static_cast<int>(pgm_secs(16)), static_cast<int>(pgm_secs(25)),
        static_cast<int>(pgm_secs(30))};
    pgm_setsockopt(s.sock, IPPROTO_PGM, PGM_HEARTBEAT_SPM, heartbeat.data(), sizeof heartbeat);
  } else {
    set(s.sock, PGM_RECV_ONLY, 1);
    set(s.sock, PGM_PASSIVE, 0);
    set(s.sock, PGM_RXW_SQNS, kWindow);
    set(s.sock, PGM_PEER_EXPIRY, static_cast<int>(pgm_secs(300)));
    set(s.sock, PGM_SPMR_EXPIRY, static_cast<int>(pgm_msecs(250)));
    set(s.sock, PGM_NAK_BO_IVL, static_cast<int>(pgm_msecs(10)));
    set(s.sock, PGM_NAK_RPT_IVL, static_cast<int>(pgm_msecs(20)));
    set(s.sock, PGM_NAK_RDATA_IVL, static_cast<int>(pgm_msecs(20)));
    set(s.sock, PGM_NAK_DATA_RETRIES, 50);
    set(s.sock, PGM_NAK_NCF_RETRIES, 50);
  }
  pgm_sockaddr_t addr{};
  addr.sa_port = static_cast<uint16_t>(spec.port);
  addr.sa_addr.sport = DEFAULT_DATA_SOURCE_PORT;
  const std::string gsi = "bench_group-" + std::to_string(spec.seed) + "-" +
                          std::to_string(sender ? -1 : spec.index);
  pgm_gsi_create_from_string(&addr.sa_addr.gsi, gsi.c_str(), -1);
  pgm_interface_req_t if_req{};
  if_req.ir_interface = res->ai_recv_addrs[0].gsr_interface;
  if (!pgm_bind3(s.sock, &addr, sizeof addr, &if_req, sizeof if_req, &if_req, sizeof if_req,
                 &error)) {
    pgm_freeaddrinfo(res);
    return Error(ErrorKind::system, take_error(error, "bind"));
  }
  for (unsigned i = 0; i < res->ai_recv_addrs_len; ++i)
    pgm_setsockopt(s.sock, IPPROTO_PGM, PGM_JOIN_GROUP, &res->ai_recv_addrs[i], sizeof(group_req));
  pgm_setsockopt(s.sock, IPPROTO_PGM, PGM_SEND_GROUP, &res->ai_send_addrs[0], sizeof(group_req));
  pgm_freeaddrinfo(res);
  set(s.sock, PGM_MULTICAST_LOOP, 1);
  set(s.sock, PGM_MULTICAST_HOPS, 1);
  set(s.sock, PGM_NOBLOCK, 1);
  if (!pgm_connect(s.sock, &error)) return Error(ErrorKind::system, take_error(error, "connect"));
  return ok();
}

// Waits for the socket's descriptors, or the timer/rate wait it reports, at most `ms`.
void wait_socket(pgm_sock_t* sock, int status, int ms) {
  if (status == PGM_IO_STATUS_TIMER_PENDING || status == PGM_IO_STATUS_RATE_LIMITED) {
    timeval tv{};
    socklen_t len = sizeof tv;
    pgm_getsockopt(sock, IPPROTO_PGM,
                   status == PGM_IO_STATUS_TIMER_PENDING ? PGM_TIME_REMAIN : PGM_RATE_REMAIN, &tv,
                   &len);
    ms = std::min(ms, static_cast<int>(tv.tv_sec * 1000 + tv.tv_usec / 1000));
  }
  std::array<pollfd, 8> fds{};
  int n = static_cast<int>(fds.size());
  pgm_poll_info(sock, fds.data(), &n, POLLIN);
  ::poll(fds.data(), static_cast<nfds_t>(n), std::max(ms, 0));
}

}  // namespace

Result<TxResult> run_pgm_sender(const RxSpec& spec, Receivers& receivers,
                                Clock::time_point deadline) {
  PgmSocket s;
  if (auto opened = open_socket(s, spec, true); !opened) return opened.error();
  std::vector<std::byte> message(static_cast<std::size_t>(spec.size));
  std::array<char, 4096> scratch{};
  std::uint64_t next = 1, waits = 0;
  while (Clock::now() < deadline) {
    if (next <= static_cast<std::uint64_t>(spec.count)) {
      stamp(message, next, now_ns());
      const int status = pgm_send(s.sock, message.data(), message.size(), nullptr);
      if (status == PGM_IO_STATUS_NORMAL) {
        ++next;
        continue;
      }
      ++waits;
    } else if (receivers.all_reported()) {
      return TxResult{"pgm sender: " + std::to_string(waits) + " waits for the rate limit"};
    }
    // Cannot send (rate or buffer) or done: answer NAKs meanwhile.
    size_t got = 0;
    pgm_error_t* error = nullptr;
    const int status = pgm_recv(s.sock, scratch.data(), scratch.size(), 0, &got, &error);
    if (error) pgm_error_free(error);
    if (status != PGM_IO_STATUS_NORMAL) wait_socket(s.sock, status, 1);
  }
  return Error(ErrorKind::timed_out, "pgm: the round's time ran out, sent " +
                                         std::to_string(next - 1));
}

std::string pgm_version() {
  return std::to_string(pgm_major_version) + "." + std::to_string(pgm_minor_version) + "." +
         std::to_string(pgm_micro_version);
}

int run_pgm_receiver(const RxSpec& spec) {
  PgmSocket s;
  if (auto opened = open_socket(s, spec, false); !opened) {
    std::fprintf(stderr, "pgm receiver: %s\n", opened.error().message().c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  RxRecorder recorder(spec.count);
  std::vector<std::byte> message(static_cast<std::size_t>(kMtu));
  std::uint64_t resets = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(spec.limit_s);
  while (!recorder.done() && Clock::now() < deadline) {
    size_t got = 0;
    pgm_error_t* error = nullptr;
    const int status = pgm_recv(s.sock, message.data(), message.size(), 0, &got, &error);
    if (error) pgm_error_free(error);
    if (status == PGM_IO_STATUS_NORMAL) {
      recorder.on_message(std::span<const std::byte>(message.data(), got));
    } else if (status == PGM_IO_STATUS_RESET) {
      ++resets;  // unrecoverable loss
    } else {
      wait_socket(s.sock, status, 10);
    }
  }
  std::printf("%s", recorder.report().c_str());
  std::fflush(stdout);
  if (resets > 0) std::fprintf(stderr, "pgm receiver %d: %llu resets (unrecoverable loss)\n",
                               spec.index, static_cast<unsigned long long>(resets));
  return 0;
}

}  // namespace nexo::bench::group
