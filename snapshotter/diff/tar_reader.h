// Internal: a streaming tar reader (ustar, pax, GNU long names) for untrusted input.
//
// Every header is checksummed; numeric fields are octal or GNU base-256. Extended headers
// (pax 'x'/'g', GNU 'L'/'K') larger than kMaxExtendedHeader are rejected before anything is
// allocated, as are paths longer than kMaxPath. Errors: InvalidArgument for a malformed
// header ("tar header at offset N: ..."), DataLoss when the stream ends inside a header or an
// entry's data. A stream that ends cleanly at a header boundary without the two zero blocks is
// accepted, as Go's archive/tar does. Not thread-safe; the source is borrowed.
#ifndef KILN_SNAPSHOTTER_DIFF_TAR_READER_H_
#define KILN_SNAPSHOTTER_DIFF_TAR_READER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "snapshotter/diff/sink.h"
#include "snapshotter/diff/tar_entry.h"

namespace kiln::snapshotter::internal {

inline constexpr int64_t kMaxExtendedHeader = 1 << 20;  // 1 MiB
inline constexpr size_t kMaxPath = 4096;

class TarReader {
 public:
  explicit TarReader(ByteSource* in) : in_(in) {}

  // The next entry, or nullopt at the end of the archive. Skips unread data of the previous
  // entry. Unsupported entry types (sparse, multi-volume, ...) give InvalidArgument.
  absl::StatusOr<std::optional<TarEntry>> Next();

  // Reads data of the current regular-file entry; 0 at its end.
  absl::StatusOr<size_t> ReadData(void* buf, size_t len);

  // Offset of the next byte to be read from the tar stream.
  int64_t offset() const { return offset_; }

 private:
  absl::Status ReadFull(void* buf, size_t len, const char* what);
  absl::Status Skip(int64_t n);
  absl::StatusOr<std::string> ReadExtended(int64_t size);

  ByteSource* in_;
  int64_t offset_ = 0;
  int64_t remaining_ = 0;  // data bytes left in the current entry
  int64_t padding_ = 0;
  bool done_ = false;
};

}  // namespace kiln::snapshotter::internal

#endif  // KILN_SNAPSHOTTER_DIFF_TAR_READER_H_
