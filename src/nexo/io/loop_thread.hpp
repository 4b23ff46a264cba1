// LoopThread — an EventLoop running on a thread of its own.
//
// What blocking APIs build on: the I/O runs on the loop thread, and a caller on
// any other thread posts work to it and waits on a Request. The destructor
// stops the loop and joins the thread; everything registered with the loop
// must be gone by then (see EventLoop's lifetime rules).
//
// Thread contract: post(), call() and stop() from any thread; loop() gives the
// loop for registering watchers and timers, which must be done on the loop
// thread (inside post() or call()).
#pragma once

#include <functional>
#include <memory>
#include <thread>

#include "nexo/base/result.hpp"
#include "nexo/io/event_loop.hpp"
#include "nexo/io/request.hpp"

namespace nexo::io {

class LoopThread {
 public:
  // Creates the loop and starts its thread. Errors: those of EventLoop::create.
  static Result<std::unique_ptr<LoopThread>> start();

  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;
  ~LoopThread();

  EventLoop& loop() noexcept { return *loop_; }
  bool in_loop_thread() const noexcept { return loop_->in_loop_thread(); }

  // Runs `task` on the loop thread, after the tasks already queued.
  void post(EventLoop::Task task);

  // Runs `fn` on the loop thread and returns its result. Blocks the caller
  // until then; runs `fn` inline when called on the loop thread itself.
  template <class T>
  Result<T> call(std::function<Result<T>()> fn) {
    if (in_loop_thread()) return fn();
    auto [request, completer] = Request<T>::make();
    loop_->post([fn = std::move(fn), c = std::make_shared<Completer<T>>(std::move(completer))] {
      c->complete(fn());
    });
    return request.wait();
  }

 private:
  explicit LoopThread(std::unique_ptr<EventLoop> loop);

  std::unique_ptr<EventLoop> loop_;
  std::jthread thread_;
};

}  // namespace nexo::io
