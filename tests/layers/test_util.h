// Helpers for the layer tests: building trees, snapshotting them for comparison, sentinel
// checks, hand-made tar headers, and in-memory sinks.
#ifndef KILN_TESTS_LAYERS_TEST_UTIL_H_
#define KILN_TESTS_LAYERS_TEST_UTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "snapshotter/diff/sink.h"

namespace kiln::snapshotter::testing {

// Collects everything written.
class StringSink : public ByteSink {
 public:
  absl::Status Write(const void* data, size_t len) override {
    data_.append(static_cast<const char*>(data), len);
    return absl::OkStatus();
  }
  using ByteSink::Write;
  const std::string& data() const { return data_; }

 private:
  std::string data_;
};

// One node of a tree as the tests compare it.
struct Node {
  char type = '?';  // f d l p c b s
  unsigned mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  int64_t mtime = 0;    // seconds
  std::string content;  // file content, or symlink target
  dev_t rdev = 0;
  std::string link_group;                     // first path sharing the inode (hardlinks), or empty
  std::map<std::string, std::string> xattrs;  // user.* only
  bool operator==(const Node&) const = default;
};
using Tree = std::map<std::string, Node>;

// Recursively records `root` (not following symlinks). Fails the test on errors.
Tree Snapshot(const std::string& root, bool with_mtimes = true);
// Human-readable differences ("" if equal).
std::string DiffTreesText(const Tree& want, const Tree& got);

// File helpers (fail the current test on error).
void WriteFile(const std::string& path, const std::string& content, mode_t mode = 0644);
void MakeDir(const std::string& path, mode_t mode = 0755);
void SetMtime(const std::string& path, int64_t sec);
void SetXattr(const std::string& path, const std::string& key, const std::string& value);
std::string ReadFile(const std::string& path);
// Copies a tree preserving modes, owners, mtimes, xattrs and hardlinks (cp -a).
void CopyTree(const std::string& from, const std::string& to);
// Runs a shell command; returns its exit status.
int Shell(const std::string& cmd);

// Deterministic pseudo-random, compressible bytes.
std::string SomeBytes(size_t n, uint32_t seed);

// Raw tar building for hostile archives (independent of the writer under test).
struct RawHeader {
  std::string name;
  char type = '0';
  unsigned mode = 0644;
  unsigned uid = 0, gid = 0;
  int64_t size = 0;
  int64_t mtime = 1700000000;
  std::string linkname;
  unsigned devmajor = 0, devminor = 0;
  bool corrupt_checksum = false;
};
std::string RawTarHeader(const RawHeader& h);
// Header + data + padding.
std::string RawTarEntry(const RawHeader& h, const std::string& data = "");
std::string RawPax(const std::string& name,
                   const std::vector<std::pair<std::string, std::string>>& recs);
std::string RawTarEnd();

}  // namespace kiln::snapshotter::testing

#endif  // KILN_TESTS_LAYERS_TEST_UTIL_H_
