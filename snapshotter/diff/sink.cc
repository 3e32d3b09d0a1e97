#include "snapshotter/diff/sink.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/status.h"

namespace kiln::snapshotter {

absl::Status ByteSink::WriteLent(char*, size_t) {
  return absl::FailedPreconditionError("byte sink: WriteLent without a lent buffer");
}

absl::Status FdSink::Write(const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd_, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return base::ErrnoError("write layer stream to fd " + std::to_string(fd_));
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> FdSource::Read(void* buf, size_t len) {
  for (;;) {
    ssize_t n = ::read(fd_, buf, len);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return base::ErrnoError("read layer stream from fd " + std::to_string(fd_));
  }
}

absl::StatusOr<size_t> StringSource::Read(void* buf, size_t len) {
  size_t n = std::min(len, data_.size());
  if (n > 0) std::memcpy(buf, data_.data(), n);
  data_.remove_prefix(n);
  return n;
}

}  // namespace kiln::snapshotter
