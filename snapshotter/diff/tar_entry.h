// Internal: one tar entry as Kiln writes and reads it (POSIX pax / ustar).
#ifndef KILN_SNAPSHOTTER_DIFF_TAR_ENTRY_H_
#define KILN_SNAPSHOTTER_DIFF_TAR_ENTRY_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kiln::snapshotter::internal {

enum class EntryType : char {
  kFile = '0',
  kHardlink = '1',
  kSymlink = '2',
  kChar = '3',
  kBlock = '4',
  kDir = '5',
  kFifo = '6',
};

// OCI whiteout naming.
inline constexpr char kWhiteoutPrefix[] = ".wh.";
inline constexpr char kOpaqueWhiteout[] = ".wh..wh..opq";

struct TarEntry {
  std::string path;  // relative, '/'-separated, no leading "./" or '/', no trailing '/'
  EntryType type = EntryType::kFile;
  uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t size = 0;      // data size (regular files only)
  int64_t mtime = 0;     // seconds since the epoch
  std::string linkname;  // symlink target, or hardlink target path
  uint32_t devmajor = 0;
  uint32_t devminor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;  // sorted by name
};

}  // namespace kiln::snapshotter::internal

#endif  // KILN_SNAPSHOTTER_DIFF_TAR_ENTRY_H_
