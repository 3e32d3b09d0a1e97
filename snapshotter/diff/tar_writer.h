// Internal: a deterministic POSIX pax tar writer.
//
// Headers are ustar; a pax extended header ('x') precedes an entry only when needed (path
// or linkname longer than 100 bytes, ids or size beyond the octal fields, or xattrs, which
// become "SCHILY.xattr.<name>" records as Docker and Go write them). uname/gname are empty,
// mtimes are whole seconds, and nothing host-specific (atime, ctime, dev/ino) is recorded,
// so the same entries always give the same bytes. Output is buffered and pushed to the
// borrowed sink in 256 KiB chunks, or straight in the sink's own buffers when it lends them
// (ByteSink::Lend: no copy between the two); file data is read straight into that buffer.
// Not thread-safe.
#ifndef KILN_SNAPSHOTTER_DIFF_TAR_WRITER_H_
#define KILN_SNAPSHOTTER_DIFF_TAR_WRITER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "snapshotter/diff/sink.h"
#include "snapshotter/diff/tar_entry.h"

namespace kiln::snapshotter::internal {

class TarWriter {
 public:
  explicit TarWriter(ByteSink* out);

  // Starts an entry. For kFile, exactly entry.size bytes of data must follow via WriteData.
  // InvalidArgument for an empty path; FailedPrecondition if the previous entry's data is short.
  absl::Status WriteHeader(const TarEntry& entry);
  // Appends file data for the current entry; InvalidArgument if more than announced.
  absl::Status WriteData(const void* data, size_t len);
  // Reads the current entry's remaining data from `fd` (at its offset) with read(2), straight
  // into the output buffer when it fits (no intermediate copy). Returns the bytes added; 0
  // means end of file before the announced size. Errors: the read's errno (callers name the
  // file).
  absl::StatusOr<size_t> ReadDataFrom(int fd);
  // Writes the two zero blocks that end the archive and flushes. Call once.
  absl::Status Close();

 private:
  absl::Status Put(const void* data, size_t len);
  absl::Status PutZeros(size_t len);
  absl::Status FinishData();
  absl::Status Flush();
  // Makes sure buf_ has room (a lent buffer, or own_).
  absl::Status EnsureBuffer();

  ByteSink* out_;
  // Pending output, pushed to the sink whenever full: a buffer the sink lent (lent_ true) or
  // own_ (kBufferSize bytes: small enough to stay in the L2 cache while a sink on the same
  // thread hashes and compresses it). buf_ is null between a lent buffer's return and the next.
  std::unique_ptr<char[]> own_;
  char* buf_ = nullptr;
  size_t cap_ = 0;
  bool lent_ = false;
  bool sink_lends_ = true;  // until the sink first declines
  size_t used_ = 0;
  int64_t remaining_ = 0;  // data bytes still owed for the current entry
  int64_t padding_ = 0;    // zero bytes to write once the data is complete
};

// Builds a 512-byte ustar header block (checksum filled in). Fields that do not fit are
// truncated; callers put the full value in a pax record. Exposed for tests that need
// hand-made (even illegal) archives.
std::string UstarHeader(const TarEntry& entry, char typeflag);

// One pax record: "<len> <key>=<value>\n".
std::string PaxRecord(const std::string& key, const std::string& value);

}  // namespace kiln::snapshotter::internal

#endif  // KILN_SNAPSHOTTER_DIFF_TAR_WRITER_H_
