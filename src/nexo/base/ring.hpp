// Ring<T> — a FIFO queue in one growable circular array: push at the back,
// pop at the front, index from the front.
//
// For queues a message passes through at full rate (a group member's
// deliveries, its ordering layer's, its events): std::deque allocates a
// block every 512 bytes of elements pushed and frees one as many popped, so
// a steady stream pays an allocation and a free every few messages. A Ring
// settles at the size the stream needs and then allocates nothing. An empty
// Ring allocates nothing either (a std::deque allocates ~600 bytes even
// empty, which counts in simulations of thousands of members).
//
// Popped slots hold moved-from T until they are reused. The capacity is a
// power of two; it grows by doubling and shrinks only on release().
#pragma once

#include <cassert>
#include <cstddef>
#include <utility>
#include <vector>

namespace nexo {

template <class T>
class Ring {
 public:
  void push_back(T value) {
    if (count_ == slots_.size()) grow();
    slots_[(head_ + count_) & (slots_.size() - 1)] = std::move(value);
    ++count_;
  }
  template <class... Args>
  T& emplace_back(Args&&... args) {
    push_back(T(std::forward<Args>(args)...));
    return back();
  }
  void pop_front() {
    assert(count_ > 0);
    slots_[head_] = T{};  // resources held by the popped value go now
    head_ = (head_ + 1) & (slots_.size() - 1);
    --count_;
  }
  // The front, moved out, and popped.
  T take_front() {
    assert(count_ > 0);
    T value = std::move(slots_[head_]);
    pop_front();
    return value;
  }

  T& front() noexcept { return slots_[head_]; }
  const T& front() const noexcept { return slots_[head_]; }
  T& back() noexcept { return (*this)[count_ - 1]; }
  T& operator[](std::size_t i) noexcept { return slots_[(head_ + i) & (slots_.size() - 1)]; }
  const T& operator[](std::size_t i) const noexcept {
    return slots_[(head_ + i) & (slots_.size() - 1)];
  }

  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  std::size_t capacity() const noexcept { return slots_.size(); }

  void clear() {
    while (count_ > 0)
      pop_front();
    head_ = 0;
  }
  // clear(), and the memory given back.
  void release() {
    std::vector<T>().swap(slots_);
    head_ = 0;
    count_ = 0;
  }

 private:
  void grow() {
    std::vector<T> bigger(slots_.empty() ? 8 : 2 * slots_.size());
    for (std::size_t i = 0; i < count_; ++i)
      bigger[i] = std::move((*this)[i]);
    slots_.swap(bigger);
    head_ = 0;
  }

  std::vector<T> slots_;  // size: the capacity, a power of two (or 0)
  std::size_t head_ = 0, count_ = 0;
};

}  // namespace nexo
