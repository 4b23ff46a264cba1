// FileDescriptor — the one RAII owner of an OS file descriptor.
//
// Move-only. The destructor closes the descriptor (errors from close(2) are
// ignored there; call close() to see them). Not thread-safe: one owner.
#pragma once

#include <utility>

#include "nexo/base/result.hpp"

namespace nexo::net {

class FileDescriptor {
 public:
  FileDescriptor() noexcept = default;
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  // Gives up ownership without closing.
  int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the current descriptor (if any) and takes `fd`.
  void reset(int fd = -1) noexcept;
  // Closes now and reports a failure of close(2). Idempotent.
  Result<void> close() noexcept;

 private:
  int fd_ = -1;
};

}  // namespace nexo::net
