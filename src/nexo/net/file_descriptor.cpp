#include "nexo/net/file_descriptor.hpp"

#include <unistd.h>

#include <cerrno>

namespace nexo::net {

void FileDescriptor::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);  // Linux frees the descriptor even when close reports EINTR
  fd_ = fd;
}

Result<void> FileDescriptor::close() noexcept {
  if (fd_ < 0) return ok();
  int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0 && errno != EINTR) return Error::from_errno(errno, "close");
  return ok();
}

}  // namespace nexo::net
