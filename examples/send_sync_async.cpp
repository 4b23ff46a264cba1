// The chapter's send operations, side by side, against any nexo port:
//   asynchronous: send_async returns once the message is copied; a Request
//                 says when it has left, by polling (test) or callback (then);
//   synchronous:  send_sync returns only once the receiver has taken it.
//
// usage: send_sync_async URI       e.g. tcp://127.0.0.1:5555 (run event_driven_server)
#include <iostream>
#include <thread>

#include "nexo/msg/sender.hpp"

int main(int argc, char** argv) {
  namespace msg = nexo::msg;
  if (argc != 2) return std::cerr << "usage: send_sync_async URI\n", 2;
  auto context = msg::Context::create();
  if (!context) return std::cerr << context.error().message() << '\n', 1;
  auto sender = msg::Sender::connect(**context, argv[1]);
  if (!sender) return std::cerr << sender.error().message() << '\n', 1;

  auto first = (*sender)->send_async("asynchronous, told by polling");
  if (!first) return std::cerr << first.error().message() << '\n', 1;
  int polls = 0;
  while (!first->test())
    ++polls, std::this_thread::yield();  // the process polls
  std::cout << "left after " << polls << " polls\n";

  auto second = (*sender)->send_async("asynchronous, told by callback");
  if (!second) return std::cerr << second.error().message() << '\n', 1;
  second->then([](nexo::Result<void> left) {  // the process is notified
    std::cout << "callback: " << (left ? "left" : left.error().message()) << '\n';
  });

  auto taken = (*sender)->send_sync("synchronous", std::chrono::seconds(5));
  std::cout << "send_sync: " << (taken ? "taken by the receiver" : taken.error().message()) << '\n';
  return taken ? 0 : 1;
}
