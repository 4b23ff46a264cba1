#include "chapter_servers.hpp"

#include <array>
#include <list>
#include <thread>
#include <vector>

#include "nexo/net/data_stream.hpp"

namespace nexo::tool {

Result<UdpEchoServer> UdpEchoServer::bind(const net::Endpoint& local) {
  auto socket = net::UdpSocket::bind(local);
  if (!socket) return std::move(socket).error();
  return UdpEchoServer(std::move(*socket));
}

Result<void> UdpEchoServer::run(const ServeOptions& options) {
  if (auto set = socket_.set_receive_timeout(options.poll_interval); !set) return set;
  std::vector<std::byte> buffer(net::UdpSocket::kMaxPayloadV6);
  while (!stopping_ && (!options.count || served_ < *options.count)) {
    net::Endpoint client;
    auto n = socket_.receive_from(buffer, client);
    if (!n) {
      if (n.error().is(ErrorKind::timed_out)) continue;  // look at stop() again
      if (n.error().is(ErrorKind::truncated))
        continue;  // cannot happen: the buffer fits any datagram
      return std::move(n).error();
    }
    auto request = std::span(buffer.data(), *n);
    if (auto sent = socket_.send_to(request, client); !sent) {
      // A client that vanished must not stop the server: UDP's failure model.
      if (!sent.error().is(ErrorKind::unreachable) && !sent.error().is(ErrorKind::refused)) {
        return sent;
      }
    }
    ++served_;
    if (options.log) options.log(as_text(request), client);
  }
  return ok();
}

Result<TcpEchoServer> TcpEchoServer::bind(const net::Endpoint& local) {
  auto listener = net::TcpListener::bind(local);
  if (!listener) return std::move(listener).error();
  return TcpEchoServer(std::move(*listener));
}

void TcpEchoServer::serve_connection(net::TcpStream stream, const ServeOptions& options) {
  auto fail = [&] { ++failed_; };
  if (!stream.set_read_timeout(options.client_timeout) ||
      !stream.set_write_timeout(options.client_timeout)) {
    return fail();
  }
  net::DataReader reader(stream);
  auto text = reader.read_utf();
  if (!text) return fail();
  net::DataWriter writer(stream);
  if (!writer.write_utf(*text) || !writer.flush()) return fail();
  ++served_;
  if (options.log) options.log(*text, stream.peer_endpoint());
}

Result<void> TcpEchoServer::run(const ServeOptions& options) {
  struct Worker {
    std::atomic<bool> done{false};
    std::jthread thread;
  };
  std::list<Worker> workers;  // list: a Worker never moves while its thread runs
  Result<void> outcome = ok();
  while (!stopping_ && (!options.count || served_ < *options.count)) {
    std::erase_if(workers, [](const Worker& w) { return w.done.load(); });  // joins finished ones
    auto stream = listener_.accept(options.poll_interval);
    if (!stream) {
      if (stream.error().is(ErrorKind::timed_out)) continue;
      if (stream.error().is(ErrorKind::overloaded)) continue;  // out of descriptors: retry later
      outcome = std::move(stream).error();
      break;
    }
    Worker& worker = workers.emplace_back();
    worker.thread = std::jthread(
        [this, &options, &worker](net::TcpStream s) {
          serve_connection(std::move(s), options);
          worker.done = true;
        },
        std::move(*stream));
  }
  workers.clear();  // joins the connection threads still running
  return outcome;
}

Result<std::string> tcp_echo_request(const net::Endpoint& server, std::string_view message,
                                     Timeout timeout) {
  net::DataWriter request;  // encode first: a message writeUTF cannot carry fails before connecting
  if (auto w = request.write_utf(message); !w) return std::move(w).error();
  auto stream = net::TcpStream::connect(server, timeout);
  if (!stream) return std::move(stream).error();
  if (auto set = stream->set_read_timeout(timeout); !set) return std::move(set).error();
  if (auto sent = stream->write_all(request.bytes()); !sent) return std::move(sent).error();
  net::DataReader reader(*stream);
  return reader.read_utf();
}

Result<std::string> udp_echo_request(const net::Endpoint& server, std::string_view message,
                                     Timeout timeout) {
  auto socket = net::UdpSocket::bind_any(server.family());
  if (!socket) return std::move(socket).error();
  // Connecting filters: only the server's reply is accepted, and an ICMP
  // "port unreachable" surfaces as refused instead of a silent timeout.
  if (auto c = socket->connect(server); !c) return std::move(c).error();
  if (auto t = socket->set_receive_timeout(timeout); !t) return std::move(t).error();
  if (auto s = socket->send(as_bytes(message)); !s) return std::move(s).error();
  auto reply = socket->receive();
  if (!reply) {
    if (reply.error().is(ErrorKind::timed_out)) {
      return Error(ErrorKind::timed_out, "no reply from " + server.to_string() + " within " +
                                             std::to_string(timeout ? timeout->count() : 0) +
                                             " ms");
    }
    return std::move(reply).error();
  }
  return std::string(reply->text());
}

}  // namespace nexo::tool
