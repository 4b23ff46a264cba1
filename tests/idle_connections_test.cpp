// The event-driven server (one loop, a tcp:// Port) holds 10,000 idle TCP
// connections and goes on serving. The clients live in a child process: a
// process here may open at most 20,000 descriptors.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "nexo/msg/port.hpp"
#include "nexo/msg/sender.hpp"
#include "skip_or_fail.hpp"

namespace nexo::msg {
namespace {

using namespace std::chrono_literals;
constexpr int kConnections = 10'000;

bool raise_fd_limit(rlim_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_max < wanted) return false;
  limit.rlim_cur = limit.rlim_max;
  return ::setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

// The child: opens kConnections connections, reports through `ready`, then
// holds them until `release` has something to read (or its parent is gone).
[[noreturn]] void hold_connections(std::uint16_t port, int ready, int release) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int opened = 0;
  for (; opened < kConnections; ++opened) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) break;
  }
  [[maybe_unused]] auto w = ::write(ready, &opened, sizeof opened);
  char byte;
  [[maybe_unused]] auto r = ::read(release, &byte, 1);  // returns when the parent writes or exits
  ::_exit(0);
}

TEST(EventDrivenServer, HoldsTenThousandIdleConnectionsAndServesOn) {
  if (!raise_fd_limit(kConnections + 1000)) {
    NEXO_SKIP_OR_FAIL("the descriptor limit here is below " << kConnections + 1000);
  }
  auto context = Context::create();
  ASSERT_TRUE(context);
  PortOptions options;
  options.max_connections = kConnections + 10;
  auto port = Port::bind(**context, "tcp://127.0.0.1:0", options);
  ASSERT_TRUE(port) << port.error().message();

  int ready[2], release[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(release, O_CLOEXEC), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);  // keep only the child's ends, or the parent's close never reaches it
    ::close(release[1]);
    hold_connections((*port)->uri().port, ready[1], release[0]);
  }
  ::close(ready[1]);
  ::close(release[0]);

  int opened = 0;
  ASSERT_EQ(::read(ready[0], &opened, sizeof opened), static_cast<ssize_t>(sizeof opened));
  EXPECT_EQ(opened, kConnections);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while ((*port)->connection_count() < static_cast<std::size_t>(opened) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);  // polling a count with a deadline, not timing anything
  }
  EXPECT_EQ((*port)->connection_count(), static_cast<std::size_t>(kConnections));
  EXPECT_EQ((*port)->connections().size(), static_cast<std::size_t>(kConnections));

  auto sender =
      Sender::connect(**context, (*port)->uri().to_string());  // one more, while 10,000 idle
  ASSERT_TRUE(sender) << sender.error().message();
  auto sent = (*sender)->send("still serving", 10s);
  ASSERT_TRUE(sent) << sent.error().message();
  auto m = (*port)->receive(10s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text(), "still serving");

  ::close(release[1]);  // the child exits; its connections close
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(ready[0]);
  const auto later = std::chrono::steady_clock::now() + 60s;
  while ((*port)->connection_count() > 1 && std::chrono::steady_clock::now() < later) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_LE((*port)->connection_count(), 1u);
  EXPECT_LE((*port)->connections().size(), 1u);  // every closed connection was freed
  EXPECT_EQ((*port)->stats().rejected, 0u);
}

}  // namespace
}  // namespace nexo::msg
