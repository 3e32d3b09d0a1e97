#include "tests/engine/image/test_util.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/oci/image.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "gtest/gtest.h"

extern char** environ;

namespace kiln::engine::image::test_util {

std::string FindTool(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::string p = path != nullptr ? path : "/usr/bin:/bin";
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find(':', i);
    if (j == std::string::npos) j = p.size();
    std::string cand = p.substr(i, j - i) + "/" + tool;
    if (::access(cand.c_str(), X_OK) == 0) return cand;
    i = j + 1;
  }
  return "";
}

RunResult RunTool(const std::vector<std::string>& argv) {
  RunResult r;
  char out_name[] = "/tmp/kiln-run-XXXXXX";
  int out = ::mkstemp(out_name);
  if (out < 0) return r;
  ::unlink(out_name);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, out, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc == 0) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  } else {
    r.output = "spawn " + argv[0] + " failed: " + strerror(rc);
  }
  ::lseek(out, 0, SEEK_SET);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out, buf, sizeof buf)) > 0) r.output.append(buf, static_cast<size_t>(n));
  ::close(out);
  return r;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
  ASSERT_TRUE(f.good()) << "write " << path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

oci::Descriptor MakeImage(cache::ContentStore& store, const std::string& scratch,
                          const std::string& text, bool gzip, const std::string& arch) {
  std::string dir = scratch + "/rootfs-" + text;
  ::mkdir(dir.c_str(), 0755);
  WriteFile(dir + "/hello.txt", text + "\n");
  std::string tar = scratch + "/layer-" + text + ".tar";
  RunResult r = RunTool({"tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner",
                         "--mtime=@0", "-C", dir, "-cf", tar, "hello.txt"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::string raw = ReadFile(tar);
  std::string blob = raw;
  if (gzip) {
    r = RunTool({"gzip", "-n", "-f", tar});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    blob = ReadFile(tar + ".gz");
  }
  oci::Image img;
  img.architecture = arch;
  img.created = "2024-01-02T03:04:05Z";
  img.config.env = {"PATH=/bin", "GREETING=" + text};
  img.config.cmd = std::vector<std::string>{"sh"};
  img.config.working_dir = "/work";
  img.diff_ids = {base::Digest::Of(raw)};
  img.history.push_back({"2024-01-02T03:04:05Z", "test layer " + text, "", "", false});
  std::string config = oci::SerializeImage(img);
  auto layer_info = store.Put(blob);
  auto config_info = store.Put(config);
  EXPECT_TRUE(layer_info.ok() && config_info.ok());
  oci::Manifest m;
  m.media_type = std::string(oci::kMediaTypeOciManifest);
  m.config = {std::string(oci::kMediaTypeOciConfig), config_info->digest, config_info->size};
  m.layers.push_back({std::string(gzip ? oci::kMediaTypeOciLayerGzip : oci::kMediaTypeOciLayer),
                      layer_info->digest, layer_info->size});
  std::string manifest = oci::SerializeManifest(m);
  auto man_info = store.Put(manifest);
  EXPECT_TRUE(man_info.ok());
  oci::Descriptor d{std::string(oci::kMediaTypeOciManifest), man_info->digest, man_info->size};
  d.platform = oci::Platform{arch, "linux"};
  return d;
}

oci::Descriptor MakeIndex(cache::ContentStore& store,
                          const std::vector<oci::Descriptor>& manifests) {
  oci::Index index;
  index.media_type = std::string(oci::kMediaTypeOciIndex);
  index.manifests = manifests;
  std::string bytes = oci::SerializeIndex(index);
  auto info = store.Put(bytes);
  EXPECT_TRUE(info.ok());
  return {std::string(oci::kMediaTypeOciIndex), info->digest, info->size};
}

std::string BusyboxLayoutDir() {
  std::vector<std::string> roots;
  if (const char* d = std::getenv("KILN_IMAGES_DIR"); d != nullptr && d[0] != '\0') {
    roots.push_back(d);
  }
  roots.push_back("/var/cache/kiln/images");
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && x[0] != '\0') {
    roots.push_back(std::string(x) + "/kiln/images");
  }
  if (const char* h = std::getenv("HOME"); h != nullptr && h[0] != '\0') {
    roots.push_back(std::string(h) + "/.cache/kiln/images");
  }
  for (const auto& r : roots) {
    std::string dir = r + "/busybox-1.35";
    if (::access((dir + "/.kiln-complete").c_str(), R_OK) == 0) return dir;
  }
  return "";
}

}  // namespace kiln::engine::image::test_util
