#include "nexo/msg/context.hpp"

namespace nexo::msg {

Result<std::unique_ptr<Context>> Context::create() {
  auto io = io::LoopThread::start();
  if (!io) return std::move(io).error().with_context("message-passing context");
  return std::unique_ptr<Context>(new Context(std::move(*io)));
}

Result<void> Context::bind_inproc(const std::string& name, std::shared_ptr<PortCore> core) {
  std::lock_guard lock(mutex_);
  if (!inproc_.emplace(name, std::move(core)).second) {
    return Error(ErrorKind::address_in_use,
                 "bind inproc://" + name + ": a port of that name exists");
  }
  return ok();
}

void Context::unbind_inproc(const std::string& name) noexcept {
  std::lock_guard lock(mutex_);
  inproc_.erase(name);
}

Result<std::shared_ptr<PortCore>> Context::find_inproc(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = inproc_.find(name);
  if (it == inproc_.end()) {
    return Error(ErrorKind::refused, "connect inproc://" + name + ": no port of that name");
  }
  return it->second;
}

}  // namespace nexo::msg
