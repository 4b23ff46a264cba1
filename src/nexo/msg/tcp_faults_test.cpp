// tcp:// when the operating system refuses: an accepted connection the port
// cannot watch, and a sender whose socket the I/O loop cannot watch for room to
// write. The failures are injected by this binary's own epoll_ctl, which stands
// in for the C library's (and calls it) in this test program only.
#include <dlfcn.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>

#include "nexo/msg/port.hpp"
#include "nexo/msg/sender.hpp"
#include "nexo/net/tcp_listener.hpp"
#include "nexo/net/tcp_stream.hpp"

namespace {

std::atomic<bool> fail_next_read_watch{false};  // the next ADD of a stream socket for reading
std::atomic<bool> fail_write_watch{false};      // every ADD or MOD of a stream socket for writing
std::atomic<int> failed{0};

bool is_stream_socket(int fd) {
  int type = 0;
  socklen_t size = sizeof type;
  return ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) == 0 && type == SOCK_STREAM;
}

}  // namespace

extern "C" int epoll_ctl(int epfd, int op, int fd, epoll_event* event) {
  using Real = int (*)(int, int, int, epoll_event*);
  static const auto real = reinterpret_cast<Real>(::dlsym(RTLD_NEXT, "epoll_ctl"));
  if (op != EPOLL_CTL_DEL && event != nullptr && is_stream_socket(fd)) {
    const bool refuse = ((event->events & EPOLLOUT) && fail_write_watch.load()) ||
                        (op == EPOLL_CTL_ADD && (event->events & EPOLLIN) &&
                         fail_next_read_watch.exchange(false));
    if (refuse) {
      failed.fetch_add(1);
      errno = ENOMEM;
      return -1;
    }
  }
  return real(epfd, op, fd, event);
}

namespace nexo::msg {
namespace {

using namespace std::chrono_literals;

TEST(TcpFaults, AnAcceptedConnectionThePortCannotWatchIsClosedAndCounted) {
  auto context = Context::create();
  ASSERT_TRUE(context);
  auto port = Port::bind(**context, "tcp://127.0.0.1:0");
  ASSERT_TRUE(port);
  fail_next_read_watch = true;
  auto s = net::TcpStream::connect(net::Endpoint(net::InetAddress::loopback(), (*port)->uri().port),
                                   5s);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->set_read_timeout(10s));
  std::array<std::byte, 8> b{};
  auto r = s->read(b);  // the port closes it
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is(ErrorKind::closed) || r.error().is(ErrorKind::reset))
      << r.error().to_string();
  EXPECT_EQ(failed.load(), 1);
  EXPECT_EQ((*port)->stats().rejected, 1u);
  EXPECT_EQ((*port)->connection_count(), 0u);
  // The port serves on.
  auto sender = Sender::connect(**context, (*port)->uri().to_string());
  ASSERT_TRUE(sender);
  ASSERT_TRUE((*sender)->send("after", 5s));
  auto m = (*port)->receive(5s);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->text(), "after");
}

TEST(TcpFaults, ASenderThatCannotWatchForRoomToWriteFailsInsteadOfHanging) {
  failed = 0;
  auto context = Context::create();
  ASSERT_TRUE(context);
  // A peer that accepts and never reads: the sender's socket fills up.
  auto listener = net::TcpListener::bind(net::Endpoint(net::InetAddress::loopback(), 0));
  ASSERT_TRUE(listener);
  auto sender = Sender::connect(
      **context, "tcp://127.0.0.1:" + std::to_string(listener->local_endpoint().port()));
  ASSERT_TRUE(sender);
  auto peer = listener->accept(5s);
  ASSERT_TRUE(peer);
  fail_write_watch = true;
  auto sent = (*sender)->send_async(Bytes(12u << 20));
  ASSERT_TRUE(sent);
  // Without the watch, nothing would ever write the rest: the flush must fail
  // with the reason, not wait out its timeout.
  auto flushed = (*sender)->flush(20s);
  fail_write_watch = false;
  ASSERT_FALSE(flushed);
  EXPECT_EQ(flushed.error().kind(), ErrorKind::overloaded) << flushed.error().to_string();  // ENOMEM
  EXPECT_NE(flushed.error().message().find("cannot watch"), std::string::npos)
      << flushed.error().message();
  EXPECT_GE(failed.load(), 1);
  auto later = (*sender)->send("later", 5s);
  ASSERT_FALSE(later);
  EXPECT_EQ(later.error().kind(), ErrorKind::overloaded) << later.error().to_string();
}

}  // namespace
}  // namespace nexo::msg
