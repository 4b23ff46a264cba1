// nexo send / recv / ping: message passing from the command line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <vector>

#include "commands.hpp"
#include "options.hpp"
#include "terminal_text.hpp"
#include "nexo/msg/port.hpp"
#include "nexo/msg/sender.hpp"

namespace nexo::tool {
namespace {

int fail(std::string_view command, const Error& error) {
  return report_failure(command, error.message());
}

Timeout timeout_of(long long ms) {
  return options::to_timeout(ms);
}

void print_stats(std::string_view what, const msg::CounterSnapshot& stats) {
  std::cerr << "stats " << what << ": " << stats.to_string() << '\n';
}

}  // namespace

int msg_recv(const RecvArgs& args) {
  constexpr std::string_view command = "recv";
  auto context = msg::Context::create();
  if (!context) return fail(command, context.error());
  auto port = msg::Port::bind(**context, args.uri);
  if (!port) return fail(command, port.error());
  std::cerr << "nexo recv: listening on " << (*port)->uri().to_string() << std::endl;
  int status = 0;
  for (std::size_t i = 0; !args.count || i < *args.count; ++i) {
    auto message = (*port)->receive(timeout_of(args.timeout_ms));
    if (!message) {
      status =
          fail(command, message.error().with_context("after " + std::to_string(i) + " messages"));
      break;
    }
    if (!args.quiet) std::cout << "Received: " << printable(message->text()) << std::endl;
    if (args.echo) {
      if (auto replied = (*port)->reply(*message, message->data); !replied) {
        status = fail(command, replied.error());
        break;
      }
    }
  }
  if (args.stats) {
    print_stats((*port)->uri().to_string(), (*port)->stats());
    for (const auto& c : (*port)->connections()) {
      std::cerr << "  connection " << printable(c.peer) << ": in " << c.messages_in << " msgs / " << c.bytes_in
                << " B\n";
    }
  }
  return status;
}

namespace {

// One message: sent (synchronously or not), printed, and its reply awaited with --reply.
Result<void> send_one(msg::Sender& sender, const SendArgs& args, const std::string& text) {
  auto sent = args.sync ? sender.send_sync(text, timeout_of(args.timeout_ms))
                        : sender.send(text, timeout_of(args.timeout_ms));
  if (!sent) return sent;
  if (!args.quiet) std::cout << (args.sync ? "Taken: " : "Sent: ") << printable(text) << '\n';
  if (args.reply) {
    auto reply = sender.receive(timeout_of(args.timeout_ms));
    if (!reply) return std::move(reply).error();
    std::cout << "Reply: " << printable(reply->text()) << '\n';
  }
  return ok();
}

// The messages to send, one at a time: MESSAGE --count times, or with MESSAGE "-"
// each line of standard input (without its newline) until the input ends.
class MessageSource {
 public:
  explicit MessageSource(const SendArgs& args) : args_(args) {}
  bool next(std::string& text) {
    if (args_.message == "-") {
      if (!std::getline(std::cin, text)) return false;
    } else {
      if (sent_ == args_.count) return false;
      text = args_.message;
    }
    if (args_.numbered) text += " " + std::to_string(sent_);
    ++sent_;
    return true;
  }

 private:
  const SendArgs& args_;
  std::size_t sent_ = 0;
};

}  // namespace

int msg_send(const SendArgs& args) {
  constexpr std::string_view command = "send";
  auto context = msg::Context::create();
  if (!context) return fail(command, context.error());
  msg::SenderOptions options;
  options.connect_timeout = timeout_of(args.timeout_ms);
  auto sender = msg::Sender::connect(**context, args.uri, options);
  if (!sender) return fail(command, sender.error());
  if (args.reply) {  // before sending anything: can replies come back at all?
    if (auto r = (*sender)->try_receive(); !r && r.error().is(ErrorKind::invalid_argument))
      return fail(command, r.error());
  }
  MessageSource source(args);
  std::string text;
  while (source.next(text)) {
    if (auto sent = send_one(**sender, args, text); !sent) return fail(command, sent.error());
  }
  // What was handed over leaves before the process does (a buffered transport).
  if (auto flushed = (*sender)->flush(timeout_of(args.timeout_ms)); !flushed)
    return fail(command, flushed.error());
  std::cout.flush();
  if (args.stats) print_stats((*sender)->uri().to_string(), (*sender)->stats());
  return 0;
}

// Round trips of synchronous sends: each returns once the receiving process has
// taken the message, so the time is send + receive + acknowledgement. With
// --reply: send, then wait for the port's reply (request-reply).
int msg_ping(const PingArgs& args) {
  constexpr std::string_view command = "ping";
  if (args.count == 0) {  // options::count(1) refuses it; the percentiles need one sample
    return fail(command, Error(ErrorKind::invalid_argument, "--count: at least 1 round trip"));
  }
  auto context = msg::Context::create();
  if (!context) return fail(command, context.error());
  auto sender = msg::Sender::connect(**context, args.uri);
  if (!sender) return fail(command, sender.error());
  const Bytes payload(args.size, std::byte{'p'});
  std::vector<double> micros;
  micros.reserve(args.count);
  for (std::size_t i = 0; i < args.count; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto taken = args.reply ? (*sender)->send(payload, timeout_of(args.timeout_ms))
                            : (*sender)->send_sync(payload, timeout_of(args.timeout_ms));
    if (taken && args.reply) {
      auto reply = (*sender)->receive(timeout_of(args.timeout_ms));
      if (!reply) {
        taken = std::move(reply).error();
      } else if (reply->size() != payload.size()) {
        taken = Error(ErrorKind::malformed, "the reply has " + std::to_string(reply->size()) +
                                                " bytes, not the " +
                                                std::to_string(payload.size()) + " sent");
      }
    }
    if (!taken) return fail(command, taken.error().with_context("ping " + std::to_string(i + 1)));
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(micros.begin(), micros.end());
  auto at = [&](double q) {
    return micros[std::min(micros.size() - 1, static_cast<std::size_t>(q * micros.size()))];
  };
  std::printf("ping %s: %zu %s of %zu B\n", printable(args.uri).c_str(), args.count,
              args.reply ? "requests and replies" : "synchronous sends", args.size);
  std::printf("latency us: min %.1f  p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", micros.front(),
              at(0.50), at(0.90), at(0.99), micros.back());
  if (args.stats) print_stats((*sender)->uri().to_string(), (*sender)->stats());
  return 0;
}

}  // namespace nexo::tool
