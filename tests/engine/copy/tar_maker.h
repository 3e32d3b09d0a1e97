// Test helper: writes tar archives entry by entry with libarchive's writer, including hostile
// ones (".." paths, absolute names, symlinks and hardlinks pointing anywhere), plain or
// compressed.
#ifndef KILN_TESTS_ENGINE_COPY_TAR_MAKER_H_
#define KILN_TESTS_ENGINE_COPY_TAR_MAKER_H_

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace kiln::engine::testing {

struct TarSpec {
  std::string path;
  char type = 'f';    // f file, d dir, l symlink, h hardlink, p fifo, c char device
  std::string data;   // file content, or link target
  mode_t mode = 0644;
  int64_t uid = 0, gid = 0;
  int64_t mtime = 1000000000;
};

// Writes `entries` to `path` as a pax tar, through `filter`: "none", "gzip", "bzip2", "xz"
// or "zstd". Fails the test on any libarchive error.
inline void MakeTar(const std::string& path, const std::vector<TarSpec>& entries,
                    const std::string& filter = "none") {
  archive* a = archive_write_new();
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
  int r = ARCHIVE_OK;
  if (filter == "gzip") r = archive_write_add_filter_gzip(a);
  if (filter == "bzip2") r = archive_write_add_filter_bzip2(a);
  if (filter == "xz") r = archive_write_add_filter_xz(a);
  if (filter == "zstd") r = archive_write_add_filter_zstd(a);
  ASSERT_EQ(r, ARCHIVE_OK) << filter << ": " << archive_error_string(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK) << archive_error_string(a);
  for (const TarSpec& s : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, s.path.c_str());
    archive_entry_set_perm(e, s.mode);
    archive_entry_set_uid(e, s.uid);
    archive_entry_set_gid(e, s.gid);
    archive_entry_set_mtime(e, s.mtime, 0);
    switch (s.type) {
      case 'd': archive_entry_set_filetype(e, AE_IFDIR); break;
      case 'l':
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, s.data.c_str());
        break;
      case 'h':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, s.data.c_str());
        break;
      case 'p': archive_entry_set_filetype(e, AE_IFIFO); break;
      case 'c':
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_rdev(e, makedev(1, 3));
        break;
      default:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, static_cast<la_int64_t>(s.data.size()));
    }
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK) << s.path << ": " << archive_error_string(a);
    if (s.type == 'f' && !s.data.empty()) {
      ASSERT_EQ(archive_write_data(a, s.data.data(), s.data.size()),
                static_cast<la_ssize_t>(s.data.size()));
    }
    archive_entry_free(e);
  }
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK) << archive_error_string(a);
  archive_write_free(a);
}

}  // namespace kiln::engine::testing

#endif  // KILN_TESTS_ENGINE_COPY_TAR_MAKER_H_
