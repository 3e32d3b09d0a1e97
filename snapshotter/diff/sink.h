// Byte sinks and sources for layer streams.
//
// ByteSink is where a layer's (compressed) bytes go: the engine adapts its content-store
// writer to it, FdSink writes to a file descriptor. ByteSource is where Apply reads a layer
// from. Neither is thread-safe; one stream per object.
#ifndef KILN_SNAPSHOTTER_DIFF_SINK_H_
#define KILN_SNAPSHOTTER_DIFF_SINK_H_

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::snapshotter {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Consumes all `len` bytes or returns an error (the stream is then unusable).
  virtual absl::Status Write(const void* data, size_t len) = 0;
  absl::Status Write(std::string_view s) { return Write(s.data(), s.size()); }

  // Optional zero-copy path for producers that fill a buffer before writing it (the tar
  // writer): a sink that would copy the bytes into buffers of its own anyway may lend one.
  // Lend returns {nullptr, 0} (the default) when the sink does not lend; otherwise a buffer of
  // `size` bytes, which the caller fills and hands back exactly once with WriteLent(data, used)
  // (used may be 0) before calling Lend, Write or anything else again. The buffer stays owned
  // by the sink. Errors: as Write.
  struct Lent {
    char* data = nullptr;
    size_t size = 0;
  };
  virtual absl::StatusOr<Lent> Lend() { return Lent{}; }
  virtual absl::Status WriteLent(char* data, size_t used);
};

// Writes to a borrowed fd (not closed), retrying short writes and EINTR. Errors carry errno.
class FdSink : public ByteSink {
 public:
  explicit FdSink(int fd) : fd_(fd) {}
  absl::Status Write(const void* data, size_t len) override;
  using ByteSink::Write;

 private:
  int fd_;
};

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `len` bytes; returns 0 only at end of stream.
  virtual absl::StatusOr<size_t> Read(void* buf, size_t len) = 0;
};

// Reads from a borrowed fd (not closed), retrying EINTR.
class FdSource : public ByteSource {
 public:
  explicit FdSource(int fd) : fd_(fd) {}
  absl::StatusOr<size_t> Read(void* buf, size_t len) override;

 private:
  int fd_;
};

// Reads from a borrowed in-memory buffer (tests, small layers).
class StringSource : public ByteSource {
 public:
  explicit StringSource(std::string_view data) : data_(data) {}
  absl::StatusOr<size_t> Read(void* buf, size_t len) override;

 private:
  std::string_view data_;
};

}  // namespace kiln::snapshotter

#endif  // KILN_SNAPSHOTTER_DIFF_SINK_H_
