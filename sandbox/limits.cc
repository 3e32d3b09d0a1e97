#include "sandbox/limits.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"

namespace kiln::sandbox {
namespace {

struct CgroupLine {
  std::string controllers;  // "" for v2
  std::string path;
};

std::vector<CgroupLine> ReadSelfCgroups() {
  std::vector<CgroupLine> out;
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    out.push_back(CgroupLine{line.substr(a + 1, b - a - 1), line.substr(b + 1)});
  }
  return out;
}

struct MountEntry {
  std::string root;
  std::string mount_point;
  std::string fstype;
  std::string super_options;
};

std::vector<MountEntry> ReadCgroupMounts() {
  std::vector<MountEntry> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    size_t dash = 0;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (f.size() < 5 || dash + 3 >= f.size()) continue;
    const std::string& type = f[dash + 1];
    if (type != "cgroup" && type != "cgroup2") continue;
    out.push_back(MountEntry{f[3], f[4], type, f[dash + 3]});
  }
  return out;
}

bool HasWord(const std::string& list, const std::string& word, char sep) {
  for (absl::string_view w : absl::StrSplit(list, sep)) {
    if (w == word) return true;
  }
  return false;
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The directory of our own cgroup in a hierarchy mounted at `m`.
std::string OwnDir(const MountEntry& m, const std::string& path) {
  std::string rel = path;
  if (m.root != "/" && rel.rfind(m.root, 0) == 0) rel = rel.substr(m.root.size());
  return m.mount_point + (rel == "/" ? "" : rel);
}

bool CanCreateChild(const std::string& dir, const char* limit_file) {
  std::string probe = absl::StrCat(dir, "/kiln-probe-", ::getpid());
  if (::mkdir(probe.c_str(), 0755) != 0) return false;
  bool ok = ::access((probe + "/" + limit_file).c_str(), W_OK) == 0;
  ::rmdir(probe.c_str());
  return ok;
}

absl::Status WriteFile(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  out.flush();
  if (!out) return absl::PermissionDeniedError(absl::StrCat("write '", path, "': failed"));
  return absl::OkStatus();
}

}  // namespace

const char* LimitLayerName(LimitLayer layer) {
  switch (layer) {
    case LimitLayer::kCgroupV2:
      return "cgroup-v2";
    case LimitLayer::kCgroupV1:
      return "cgroup-v1";
    case LimitLayer::kRlimit:
      return "rlimit";
  }
  return "?";
}

LimitProbe ProbeLimitLayer(bool try_create) {
  LimitProbe p;
  std::vector<CgroupLine> self = ReadSelfCgroups();
  std::vector<MountEntry> mounts = ReadCgroupMounts();
  std::string why_not_v2 = "no cgroup2 hierarchy";
  for (const CgroupLine& c : self) {
    if (!c.controllers.empty()) continue;
    for (const MountEntry& m : mounts) {
      if (m.fstype != "cgroup2") continue;
      std::string dir = OwnDir(m, c.path);
      std::string sub = ReadSmallFile(dir + "/cgroup.subtree_control");
      while (!sub.empty() && sub.back() == '\n') sub.pop_back();
      if (!HasWord(sub, "pids", ' ')) {
        why_not_v2 = absl::StrCat("cgroup2 at ", m.mount_point, " delegates no pids controller");
        continue;
      }
      if (try_create && !CanCreateChild(dir, "pids.max")) {
        why_not_v2 = absl::StrCat("cannot create a child cgroup in ", dir);
        continue;
      }
      p.layer = LimitLayer::kCgroupV2;
      p.v2_parent = dir;
      p.why = absl::StrCat("delegated cgroup2 subtree at ", dir);
      return p;
    }
  }
  std::string why_not_v1 = "not root";
  if (::geteuid() == 0) {
    why_not_v1 = "no writable cgroup v1 pids+memory hierarchies";
    for (const CgroupLine& c : self) {
      for (const MountEntry& m : mounts) {
        if (m.fstype != "cgroup") continue;
        bool pids = HasWord(c.controllers, "pids", ',') && HasWord(m.super_options, "pids", ',');
        bool mem = HasWord(c.controllers, "memory", ',') && HasWord(m.super_options, "memory", ',');
        if (pids) p.v1_pids = OwnDir(m, c.path);
        if (mem) p.v1_memory = OwnDir(m, c.path);
      }
    }
    if (!p.v1_pids.empty() && !p.v1_memory.empty() &&
        (!try_create || (CanCreateChild(p.v1_pids, "pids.max") &&
                         CanCreateChild(p.v1_memory, "memory.limit_in_bytes")))) {
      p.layer = LimitLayer::kCgroupV1;
      p.why = absl::StrCat(why_not_v2, "; root with cgroup v1 pids at ", p.v1_pids,
                           " and memory at ", p.v1_memory);
      return p;
    }
  }
  p.v1_pids.clear();
  p.v1_memory.clear();
  p.why =
      absl::StrCat(why_not_v2, "; cgroup v1: ", why_not_v1, "; using RLIMIT_NPROC and RLIMIT_AS");
  return p;
}

absl::StatusOr<std::unique_ptr<RunCgroup>> RunCgroup::Create(const LimitProbe& probe,
                                                             int64_t pids_max,
                                                             int64_t memory_max_bytes) {
  static std::atomic<uint64_t> counter{0};
  std::string name = absl::StrCat("kiln-run-", ::getpid(), "-", counter.fetch_add(1));
  std::unique_ptr<RunCgroup> cg(new RunCgroup());
  auto make = [&](int slot, const std::string& parent) -> absl::Status {
    std::string dir = parent + "/" + name;
    if (::mkdir(dir.c_str(), 0755) != 0) return base::ErrnoError("mkdir cgroup '" + dir + "'");
    cg->dirs_[slot] = dir;
    return absl::OkStatus();
  };
  // Only the controllers a limit is asked for: attaching to a v1 memory cgroup alone costs
  // milliseconds (see bench/sandbox/README.md).
  if (probe.layer == LimitLayer::kCgroupV2) {
    KILN_RETURN_IF_ERROR(make(0, probe.v2_parent));
    if (pids_max > 0) {
      KILN_RETURN_IF_ERROR(WriteFile(cg->dirs_[0] + "/pids.max", std::to_string(pids_max)));
    }
    if (memory_max_bytes > 0) {
      KILN_RETURN_IF_ERROR(
          WriteFile(cg->dirs_[0] + "/memory.max", std::to_string(memory_max_bytes)));
    }
  } else if (probe.layer == LimitLayer::kCgroupV1) {
    if (pids_max > 0) {
      KILN_RETURN_IF_ERROR(make(0, probe.v1_pids));
      KILN_RETURN_IF_ERROR(WriteFile(cg->dirs_[0] + "/pids.max", std::to_string(pids_max)));
    }
    if (memory_max_bytes > 0) {
      KILN_RETURN_IF_ERROR(make(1, probe.v1_memory));
      KILN_RETURN_IF_ERROR(
          WriteFile(cg->dirs_[1] + "/memory.limit_in_bytes", std::to_string(memory_max_bytes)));
    }
  }
  return cg;
}

absl::Status RunCgroup::Attach(pid_t pid) {
  for (const std::string& dir : dirs_) {
    if (dir.empty()) continue;
    KILN_RETURN_IF_ERROR(WriteFile(dir + "/cgroup.procs", std::to_string(pid)));
  }
  return absl::OkStatus();
}

RunCgroup::~RunCgroup() {
  for (const std::string& dir : dirs_) {
    if (dir.empty()) continue;
    for (int i = 0; i < 200 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

}  // namespace kiln::sandbox
