#include "sandbox/id_mapping.h"

#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status.h"
#include "base/unique_fd.h"

extern char** environ;

namespace kiln::sandbox {
namespace {

struct Range {
  uint64_t start = 0;
  uint64_t count = 0;
};

// First "name:start:count" or "uid:start:count" line for the user, if any.
bool FindSubordinateRange(const std::string& file, const std::string& name, uid_t uid, Range* out) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string who, start, count;
    if (!std::getline(fields, who, ':') || !std::getline(fields, start, ':') ||
        !std::getline(fields, count)) {
      continue;
    }
    if (who != name && who != std::to_string(uid)) continue;
    char* end = nullptr;
    uint64_t s = std::strtoull(start.c_str(), &end, 10);
    if (*end != '\0') continue;
    uint64_t c = std::strtoull(count.c_str(), &end, 10);
    if (*end != '\0' || c == 0) continue;
    *out = Range{s, c};
    return true;
  }
  return false;
}

// Number of ids 0..N-1 covered contiguously by the "inside outside count" lines of `map`.
uint64_t ContiguousFromZero(const std::vector<Range>& inside) {
  std::vector<Range> r = inside;
  std::sort(r.begin(), r.end(), [](const Range& a, const Range& b) { return a.start < b.start; });
  uint64_t covered = 0;
  for (const Range& x : r) {
    if (x.start > covered) break;
    covered = std::max(covered, x.start + x.count);
  }
  return covered;
}

absl::StatusOr<std::pair<std::string, uint64_t>> IdentityOfCurrentMap(const char* path) {
  std::ifstream in(path);
  if (!in) return base::ErrnoError(absl::StrCat("open '", path, "'"));
  std::string out;
  std::vector<Range> ranges;
  uint64_t inside = 0, outside = 0, count = 0;
  while (in >> inside >> outside >> count) {
    absl::StrAppend(&out, inside, " ", inside, " ", count, "\n");
    ranges.push_back(Range{inside, count});
  }
  if (ranges.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("read '", path, "': no id mapping"));
  }
  return std::make_pair(out, ContiguousFromZero(ranges));
}

bool InInitialUserNamespace() {
  std::ifstream in("/proc/self/uid_map");
  uint64_t inside = 1, outside = 1, count = 0;
  in >> inside >> outside >> count;
  return inside == 0 && outside == 0 && count == 4294967295ULL;
}

absl::Status WriteProcFile(pid_t pid, const char* name, const std::string& content) {
  std::string path = absl::StrCat("/proc/", pid, "/", name);
  base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return base::ErrnoError("open '" + path + "'");
  if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    return base::ErrnoError("write '" + path + "'");
  }
  return absl::OkStatus();
}

// A running newuidmap/newgidmap whose output (stdout+stderr) is collected by Wait().
struct MapTool {
  std::string cmdline;
  pid_t pid = -1;
  base::UniqueFd output;
};

// Starts `tool pid args...` (posix_spawn: safe from a multi-threaded process).
absl::StatusOr<MapTool> StartMapTool(const std::string& tool, pid_t pid,
                                     const std::vector<std::string>& args) {
  std::vector<std::string> argv = {tool, std::to_string(pid)};
  argv.insert(argv.end(), args.begin(), args.end());
  MapTool t;
  t.cmdline = absl::StrJoin(argv, " ");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return base::ErrnoError("pipe for '" + tool + "'");
  t.output.reset(fds[0]);
  base::UniqueFd wr(fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, wr.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, wr.get(), 2);
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  int rc = ::posix_spawnp(&t.pid, tool.c_str(), &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return base::ErrnoError(
        rc, absl::StrCat("run '", t.cmdline, "' (is the uidmap package installed?)"));
  }
  return t;
}

// Waits for the tool and reports its own failure text: "<cmdline>: exit status N: <output>".
absl::Status WaitMapTool(MapTool& t) {
  std::string output;
  char buf[512];
  for (ssize_t n; (n = ::read(t.output.get(), buf, sizeof(buf))) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    output.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(t.pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  while (!output.empty() && output.back() == '\n') output.pop_back();
  std::string how = WIFEXITED(status) ? absl::StrCat("exit status ", WEXITSTATUS(status))
                                      : absl::StrCat("killed by signal ", WTERMSIG(status));
  return absl::PermissionDeniedError(absl::StrCat(t.cmdline, ": ", how, ": ", output));
}

}  // namespace

const char* IdMappingModeName(IdMappingMode mode) {
  switch (mode) {
    case IdMappingMode::kRootIdentity:
      return "root-identity";
    case IdMappingMode::kSubordinateRange:
      return "subordinate-range";
    case IdMappingMode::kSingleId:
      return "single-id";
    case IdMappingMode::kNested:
      return "nested";
  }
  return "?";
}

std::string IdMapping::UnmappedIdMessage(const std::string& user_spec, uint64_t uid,
                                         uint64_t gid) const {
  std::string msg = absl::StrCat("sandbox: user '", user_spec, "' (uid ", uid, ", gid ", gid,
                                 ") is not mapped in the build's user namespace: only ",
                                 mapped_uids, " id(s) are mapped");
  if (mode == IdMappingMode::kSingleId || mode == IdMappingMode::kNested) {
    std::string who = user_name;
    if (mode == IdMappingMode::kNested) {
      const char* env_user = std::getenv("USER");
      who = env_user != nullptr && *env_user != '\0' ? env_user : "<user>";
    }
    if (who.empty()) who = std::to_string(host_uid);
    absl::StrAppend(&msg, " because a subordinate id range is missing (", note,
                    "); add one with `usermod --add-subuids 100000-165535 --add-subgids "
                    "100000-165535 ",
                    who, "` and try again");
  }
  return msg;
}

absl::StatusOr<IdMapping> DetectIdMapping(const std::string& subuid_file,
                                          const std::string& subgid_file) {
  IdMapping m;
  m.host_uid = ::geteuid();
  gid_t gid = ::getegid();
  if (passwd* pw = ::getpwuid(m.host_uid)) m.user_name = pw->pw_name;
  if (!InInitialUserNamespace()) {
    if (m.host_uid != 0) {
      return absl::FailedPreconditionError(
          "sandbox: inside a user namespace but not uid 0 there; run as the namespace's root");
    }
    m.mode = IdMappingMode::kNested;
    KILN_ASSIGN_OR_RETURN(auto uids, IdentityOfCurrentMap("/proc/self/uid_map"));
    KILN_ASSIGN_OR_RETURN(auto gids, IdentityOfCurrentMap("/proc/self/gid_map"));
    m.uid_map = uids.first;
    m.mapped_uids = uids.second;
    m.gid_map = gids.first;
    m.mapped_gids = gids.second;
    if (m.mapped_uids < 65536) {
      m.note = absl::StrCat("the enclosing user namespace maps only ", m.mapped_uids,
                            " id(s); it was started without a range in /etc/subuid");
    }
    // setgroups denied there stays denied in every namespace nested below it.
    std::ifstream setgroups("/proc/self/setgroups");
    std::string policy;
    setgroups >> policy;
    m.deny_setgroups = policy == "deny";
    return m;
  }
  if (m.host_uid == 0) {
    m.mode = IdMappingMode::kRootIdentity;
    m.uid_map = m.gid_map = "0 0 65536\n";
    m.mapped_uids = m.mapped_gids = 65536;
    return m;
  }
  Range subuid, subgid;
  bool have_uid = FindSubordinateRange(subuid_file, m.user_name, m.host_uid, &subuid);
  bool have_gid = FindSubordinateRange(subgid_file, m.user_name, m.host_uid, &subgid);
  if (have_uid && have_gid) {
    m.mode = IdMappingMode::kSubordinateRange;
    uint64_t ucount = std::min<uint64_t>(subuid.count, 65535);
    uint64_t gcount = std::min<uint64_t>(subgid.count, 65535);
    m.newuidmap_args = {"0", std::to_string(m.host_uid),   "1",
                        "1", std::to_string(subuid.start), std::to_string(ucount)};
    m.newgidmap_args = {"0", std::to_string(gid),          "1",
                        "1", std::to_string(subgid.start), std::to_string(gcount)};
    m.mapped_uids = ucount + 1;
    m.mapped_gids = gcount + 1;
    return m;
  }
  m.mode = IdMappingMode::kSingleId;
  m.uid_map = absl::StrCat("0 ", m.host_uid, " 1\n");
  m.gid_map = absl::StrCat("0 ", gid, " 1\n");
  m.deny_setgroups = true;
  m.mapped_uids = m.mapped_gids = 1;
  m.note = absl::StrCat("no range for user '", m.user_name, "' in ",
                        have_uid ? subgid_file : subuid_file);
  return m;
}

absl::Status WriteIdMapsFromParent(const IdMapping& mapping, pid_t pid) {
  if (mapping.mode == IdMappingMode::kSubordinateRange) {
    // Both at once: each is a setuid exec costing about a millisecond.
    KILN_ASSIGN_OR_RETURN(MapTool uid_tool, StartMapTool("newuidmap", pid, mapping.newuidmap_args));
    absl::StatusOr<MapTool> gid_tool = StartMapTool("newgidmap", pid, mapping.newgidmap_args);
    absl::Status uid_status = WaitMapTool(uid_tool);
    if (!gid_tool.ok()) return gid_tool.status();
    absl::Status gid_status = WaitMapTool(*gid_tool);
    return uid_status.ok() ? gid_status : uid_status;
  }
  if (mapping.deny_setgroups) KILN_RETURN_IF_ERROR(WriteProcFile(pid, "setgroups", "deny"));
  KILN_RETURN_IF_ERROR(WriteProcFile(pid, "uid_map", mapping.uid_map));
  return WriteProcFile(pid, "gid_map", mapping.gid_map);
}

}  // namespace kiln::sandbox
