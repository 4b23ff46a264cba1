#include "nexo/io/loop_thread.hpp"

#include <latch>

namespace nexo::io {

Result<std::unique_ptr<LoopThread>> LoopThread::start() {
  auto loop = EventLoop::create();
  if (!loop) return std::move(loop).error();
  return std::unique_ptr<LoopThread>(new LoopThread(std::move(*loop)));
}

LoopThread::LoopThread(std::unique_ptr<EventLoop> loop) : loop_(std::move(loop)) {
  EventLoop* raw = loop_.get();
  // The loop belongs to the new thread from its first iteration: post() work
  // queued before then waits in the task queue.
  thread_ = std::jthread([raw] { raw->run(); });
  std::latch running(1);  // from here on in_loop_thread() means the new thread
  loop_->post([&running] { running.count_down(); });
  running.wait();
}

LoopThread::~LoopThread() {
  loop_->stop();
  if (thread_.joinable()) thread_.join();
  loop_->run_once(std::chrono::milliseconds(0));  // tasks posted while stopping: run, don't drop
}

void LoopThread::post(EventLoop::Task task) {
  loop_->post(std::move(task));
}

}  // namespace nexo::io
