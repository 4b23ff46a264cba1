// nexo send / recv / ping: message passing from the command line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <vector>

#include "commands.hpp"
#include "nexo/msg/port.hpp"
#include "nexo/msg/sender.hpp"

namespace nexo::tool {
namespace {

int fail(std::string_view command, const Error& error) {
  std::cerr << "nexo " << command << ": " << error.message() << '\n';
  return 1;
}

Timeout timeout_of(long long ms) {
  return ms > 0 ? Timeout(std::chrono::milliseconds(ms)) : Timeout();
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
    if (!args.quiet) std::cout << "Received: " << message->text() << std::endl;
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
      std::cerr << "  connection " << c.peer << ": in " << c.messages_in << " msgs / " << c.bytes_in
                << " B\n";
    }
  }
  return status;
}

int msg_send(const SendArgs& args) {
  constexpr std::string_view command = "send";
  auto context = msg::Context::create();
  if (!context) return fail(command, context.error());
  msg::SenderOptions options;
  if (args.timeout_ms > 0) options.connect_timeout = std::chrono::milliseconds(args.timeout_ms);
  auto sender = msg::Sender::connect(**context, args.uri, options);
  if (!sender) return fail(command, sender.error());
  if (args.reply) {  // before sending anything: can replies come back at all?
    if (auto r = (*sender)->try_receive(); !r && r.error().is(ErrorKind::invalid_argument))
      return fail(command, r.error());
  }
  for (std::size_t i = 0; i < args.count; ++i) {
    const std::string text = args.numbered ? args.message + " " + std::to_string(i) : args.message;
    auto sent = args.sync ? (*sender)->send_sync(text, timeout_of(args.timeout_ms))
                          : (*sender)->send(text, timeout_of(args.timeout_ms));
    if (!sent) return fail(command, sent.error());
    if (!args.quiet) std::cout << (args.sync ? "Taken: " : "Sent: ") << text << '\n';
    if (args.reply) {
      auto reply = (*sender)->receive(timeout_of(args.timeout_ms));
      if (!reply) return fail(command, reply.error());
      std::cout << "Reply: " << reply->text() << '\n';
    }
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
  std::printf("ping %s: %zu %s of %zu B\n", args.uri.c_str(), args.count,
              args.reply ? "requests and replies" : "synchronous sends", args.size);
  std::printf("latency us: min %.1f  p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", micros.front(),
              at(0.50), at(0.90), at(0.99), micros.back());
  if (args.stats) print_stats((*sender)->uri().to_string(), (*sender)->stats());
  return 0;
}

}  // namespace nexo::tool
