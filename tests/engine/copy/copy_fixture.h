// Test fixture for the COPY engine: a source root, a destination root and a "host" dir
// outside both that nothing may touch, each a real directory under a fresh temp dir.
#ifndef KILN_TESTS_ENGINE_COPY_COPY_FIXTURE_H_
#define KILN_TESTS_ENGINE_COPY_COPY_FIXTURE_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "engine/copy/copy.h"

namespace kiln::engine {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

class CopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = base::TempDir::Create("kiln-copy-test-");
    ASSERT_TRUE(d.ok());
    dir_ = std::move(*d);
    ASSERT_EQ(::mkdir(Src("").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(Dst("").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(Host("").c_str(), 0755), 0);
    src_fd_.reset(::open(Src("").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    dst_fd_.reset(::open(Dst("").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  std::string Src(const std::string& rel) { return dir_.path() + "/src/" + rel; }
  std::string Dst(const std::string& rel) { return dir_.path() + "/dst/" + rel; }
  // A directory outside both roots that nothing may touch.
  std::string Host(const std::string& rel) { return dir_.path() + "/host/" + rel; }
  void Write(const std::string& path, const std::string& content, mode_t mode = 0644) {
    std::ofstream(path) << content;
    ::chmod(path.c_str(), mode);
  }
  void Mkdir(const std::string& path) { ASSERT_EQ(::mkdir(path.c_str(), 0755), 0) << path; }

  absl::StatusOr<CopyStats> Copy(std::vector<std::string> sources, std::string dest) {
    CopyOptions o;
    o.sources = std::move(sources);
    o.dest = std::move(dest);
    return CopyFiles(src_fd_.get(), dst_fd_.get(), o);
  }

  base::TempDir dir_;
  base::UniqueFd src_fd_, dst_fd_;
};

}  // namespace kiln::engine

#endif  // KILN_TESTS_ENGINE_COPY_COPY_FIXTURE_H_
