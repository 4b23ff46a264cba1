// group::Group, the caller's side: join, send, receive, views, leave. The
// loop thread's side is group_loop.cpp.
#include "nexo/group/group.hpp"

#include <random>

#include "nexo/group/group_impl.hpp"

namespace nexo::group {
namespace {

std::uint64_t random_nonzero() {
  std::random_device device;
  std::uint64_t v = 0;
  while (v == 0)
    v = (std::uint64_t{device()} << 32) ^ device();
  return v;
}

Result<TransportConfig> transport_config(const GroupOptions& o) {
  TransportConfig t;
  auto interface = net::NetworkInterface::parse(o.interface);
  if (!interface) return std::move(interface).error().with_context("group interface");
  t.interface = std::move(*interface);
  t.ttl = o.ttl;
  t.faults = o.faults;
  if (o.unicast || !o.members.empty()) {
    if (o.address) {
      return Error(ErrorKind::invalid_argument,
                   "group " + o.name + ": an address and seed members (choose multicast or "
                   "unicast fan-out)");
    }
    if (!o.members.empty()) t.family = o.members.front().family();
    t.unicast_port = o.port;
    return t;
  }
  const net::InetAddress address = o.address ? *o.address : group_address(o.name);
  if (auto valid = net::validate_group(address); !valid)
    return std::move(valid).error().with_context("group " + o.name);
  t.group = net::Endpoint(address, o.port);
  return t;
}

EndpointConfig endpoint_config(const GroupOptions& options, MemberId self, const Bytes& contact) {
  EndpointConfig e;
  e.group = group_tag(options.name);
  e.self = self;
  e.contact = contact;
  e.seed = options.seed != 0 ? options.seed : random_nonzero();
  e.order = options.order;
  e.slow_policy = options.slow_policy;
  e.state_transfer =
      static_cast<bool>(options.provide_state) || static_cast<bool>(options.apply_state);
  e.detection_time = options.detection_time;
  e.discovery_time = options.discovery_time;
  e.max_view_packet = options.max_view_packet;
  e.reliability = options.reliability;
  return e;
}

Error left_error(std::string_view what) {
  return Error(ErrorKind::not_connected,
               std::string(what) + ": this member is not in the group (it left)");
}

}  // namespace

Group::Group(std::unique_ptr<Impl> impl) : impl_(std::move(impl)), self_(impl_->self) {}

Group::~Group() {
  if (impl_->io) {
    (void)impl_->io->call<void>([this]() -> Result<void> {
      impl_->stop_io();
      return ok();
    });
  }
}

Result<std::unique_ptr<Group>> Group::join(GroupOptions options) {
  if (options.name.empty()) return Error(ErrorKind::invalid_argument, "group: the name is empty");
  if (options.bundle_bytes > kMaxPacket) {
    return Error(ErrorKind::invalid_argument,
                 "group " + options.name + ": bundle_bytes " + std::to_string(options.bundle_bytes) +
                     " is over the largest datagram, " + std::to_string(kMaxPacket));
  }
  auto impl = std::make_unique<Impl>();
  impl->bundle = BundleWriter(options.bundle_bytes);
  auto config = transport_config(options);
  if (!config) return std::move(config).error();
  auto transport = Transport::open(*config);
  if (!transport) return std::move(transport).error().with_context("group " + options.name);
  impl->transport = std::move(*transport);
  for (const auto& seed : options.members)
    if (seed != impl->transport->contact()) impl->seeds.push_back(seed);
  impl->self = random_nonzero();
  const net::Endpoint where = impl->transport->multicast() ? *impl->transport->group_endpoint()
                                                           : impl->transport->contact();
  impl->label = options.name + " " + where.to_string();
  impl->names[impl->self] = impl->transport->contact().to_string();
  impl->view_callback = options.on_view;

  EndpointConfig e = endpoint_config(options, impl->self, impl->transport->encoded_contact());
  auto endpoint = Endpoint::create(std::move(e), Clock::now());
  if (!endpoint) return std::move(endpoint).error().with_context("group " + options.name);
  impl->endpoint.emplace(std::move(*endpoint));
  const auto join_timeout = options.join_timeout;
  impl->options = std::move(options);

  auto io = io::LoopThread::start();
  if (!io) return std::move(io).error();
  impl->io = std::move(*io);
  auto [joined, completer] = io::Request<void>::make();
  impl->joined.emplace(std::move(completer));
  Impl* raw = impl.get();
  std::unique_ptr<Group> group(new Group(std::move(impl)));
  auto started = raw->io->call<void>([raw] { return raw->start(Clock::now()); });
  if (!started) return std::move(started).error().with_context("group " + raw->options.name);
  auto done = joined.wait_for(join_timeout);
  if (!done) {
    return Error(ErrorKind::timed_out,
                 "group " + raw->options.name + " at " + where.to_string() + ": no view within " +
                     std::to_string(join_timeout.count()) + " ms of joining");
  }
  if (!*done) return std::move(*done).error();
  return group;
}

Result<io::Request<void>> Group::send_async(std::span<const std::byte> payload) {
  // Made before the lock (an error wastes it: rare, and the Completer,
  // dropped unused, completes a Request nobody holds). A small payload is
  // copied under the lock into a spare buffer, a large one before it.
  auto [request, completer] = io::Request<void>::make();
  Impl::PendingSend send{Bytes(), std::move(completer)};
  const bool small = payload.size() <= Impl::kSpareBytes;
  if (!small) send.payload.assign(payload.begin(), payload.end());
  Impl* impl = impl_.get();
  bool post = false;
  {
    std::lock_guard lock(impl->mutex);
    if (impl->leaving || impl->closed) return left_error("group send");
    if (impl->pending_count >= impl->options.max_pending) {
      return Error(ErrorKind::would_block, "group send: " + std::to_string(impl->pending_count) +
                                               " messages wait for room in the group's window");
    }
    ++impl->pending_count;
    if (small) {
      if (!impl->spare.empty()) {
        send.payload = std::move(impl->spare.back());
        impl->spare.pop_back();
      }
      send.payload.assign(payload.begin(), payload.end());
    }
    impl->submitted.push_back(std::move(send));
    // One pump takes every send submitted until it runs: one task and one
    // loop wake-up per burst, and their packets leave in one sendmmsg.
    post = !impl->pump_posted;
    impl->pump_posted = true;
  }
  if (post) impl->io->post([impl] { impl->pump(Clock::now()); });
  return request;
}

Result<void> Group::send(std::span<const std::byte> payload, Timeout timeout) {
  const auto deadline = timeout ? Clock::now() + *timeout : Clock::time_point::max();
  for (;;) {
    auto request = send_async(payload);
    if (request) {
      auto done = request->wait_until(deadline);
      if (!done) return Error(ErrorKind::timed_out, "group send: not taken within the timeout");
      return std::move(*done);
    }
    if (!request.error().is(ErrorKind::would_block)) return std::move(request).error();
    std::unique_lock lock(impl_->mutex);
    const bool room = impl_->changed.wait_until(lock, deadline, [this] {
      return impl_->pending_count < impl_->options.max_pending || impl_->closed;
    });
    if (!room) return Error(ErrorKind::timed_out, "group send: no room within the timeout");
  }
}

namespace {
Error given_to_callback(std::string_view call) {
  return Error(ErrorKind::invalid_argument,
               "group " + std::string(call) +
                   ": this group gives its deliveries to GroupOptions::on_deliver, none is queued");
}
}  // namespace

Result<Delivery> Group::receive(Timeout timeout) {
  if (impl_->options.on_deliver) return given_to_callback("receive");
  return impl_->deliveries.take(timeout);
}
Result<Delivery> Group::try_receive() {
  if (impl_->options.on_deliver) return given_to_callback("try_receive");
  return impl_->deliveries.try_take();
}
io::Request<Delivery> Group::receive_async() {
  if (impl_->options.on_deliver)
    return io::Request<Delivery>::ready(given_to_callback("receive_async"));
  return impl_->deliveries.take_async();
}

View Group::view() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->view;
}

Result<View> Group::next_view(std::uint64_t after, Timeout timeout) {
  std::unique_lock lock(impl_->mutex);
  const auto ready = [&] { return impl_->view.id > after || impl_->closed; };
  if (!timeout) {
    impl_->changed.wait(lock, ready);
  } else if (!impl_->changed.wait_for(lock, *timeout, ready)) {
    return Error(ErrorKind::timed_out,
                 "group view: no view after " + std::to_string(after) + " within the timeout");
  }
  if (impl_->view.id <= after) return left_error("group view");
  return impl_->view;
}

void Group::on_view(std::function<void(const ViewChange&)> callback) {
  std::lock_guard lock(impl_->mutex);
  impl_->view_callback = std::move(callback);
}

Result<void> Group::leave(Timeout timeout) {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->closed) return ok();
    impl_->leaving = true;
  }
  auto [request, completer] = io::Request<void>::make();
  Impl* impl = impl_.get();
  impl->io->post([impl, c = std::make_shared<io::Completer<void>>(std::move(completer))] {
    impl->start_leave(Clock::now(), std::move(*c));
  });
  auto done = timeout ? request.wait_for(*timeout) : std::optional<Result<void>>(request.wait());
  (void)impl->io->call<void>([impl]() -> Result<void> {
    impl->stop_io();
    return ok();
  });
  if (!done) {
    return Error(ErrorKind::timed_out, "group leave: the view without this member was not "
                                       "installed within the timeout (the others will detect "
                                       "its silence)");
  }
  return std::move(*done);
}

std::string Group::name_of(MemberId member) const {
  std::lock_guard lock(impl_->mutex);
  if (auto it = impl_->names.find(member); it != impl_->names.end()) return it->second;
  char text[24];
  std::snprintf(text, sizeof text, "#%llx", static_cast<unsigned long long>(member));
  return text;
}

net::Endpoint Group::address() const {
  return impl_->transport->multicast() ? *impl_->transport->group_endpoint()
                                       : impl_->transport->contact();
}

GroupCounters Group::counters() const {
  auto c = impl_->io->call<GroupCounters>([impl = impl_.get()]() -> Result<GroupCounters> {
    return impl->read_counters();
  });
  return c ? *c : GroupCounters{};
}

}  // namespace nexo::group
