// Child side: resolves the run's user from the root's /etc/passwd and /etc/group, read from
// inside the new root with openat2(RESOLVE_IN_ROOT), parsed without allocating.
#include <sys/stat.h>

#include "sandbox/child_syscalls.h"

namespace kiln::sandbox::internal {
namespace {

struct Field {
  const char* p = nullptr;
  size_t n = 0;
};

bool FieldEquals(const Field& f, const char* s, size_t n) {
  if (f.n != n) return false;
  for (size_t i = 0; i < n; ++i) {
    if (f.p[i] != s[i]) return false;
  }
  return true;
}

bool ParseId(const Field& f, uint64_t* out) {
  if (f.n == 0 || f.n > 10) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < f.n; ++i) {
    if (f.p[i] < '0' || f.p[i] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(f.p[i] - '0');
  }
  *out = v;
  return true;
}

// Reads `path` (inside the root) into plan.scratch. Returns its length, -1 if the file does
// not exist, or fails the child.
ssize_t ReadRootFileInChild(LaunchPlan& plan, int rootfd, const char* path) {
  int fd = OpenInRootInChild(rootfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return -1;
    FailInChild(Step::kResolveUser, errno, 0, path);
  }
  struct stat st;
  if (syscall(SYS_fstat, fd, &st) < 0) FailInChild(Step::kResolveUser, errno, 0, path);
  if (!S_ISREG(st.st_mode)) FailInChild(Step::kResolveUser, EINVAL, 0, path);
  size_t cap = plan.scratch_size;
  size_t len = 0;
  for (;;) {
    if (len == cap) FailInChild(Step::kResolveUser, EFBIG, 0, path);
    ssize_t n = syscall(SYS_read, fd, plan.scratch.get() + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) FailInChild(Step::kResolveUser, errno, 0, path);
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  CloseInChild(fd);
  return static_cast<ssize_t>(len);
}

// Calls visit(fields, count) for each line of the buffer, split at ':' (max 8 fields). Stops
// when visit returns true.
template <typename Visit>
void ForEachEntry(const char* buf, size_t len, Visit visit) {
  size_t i = 0;
  while (i < len) {
    Field fields[8];
    int count = 0;
    size_t start = i;
    while (i < len && buf[i] != '\n') {
      if (buf[i] == ':' && count < 7) {
        fields[count++] = Field{buf + start, i - start};
        start = i + 1;
      }
      ++i;
    }
    fields[count++] = Field{buf + start, i - start};
    ++i;
    if (fields[0].n == 0 || fields[0].p[0] == '#') continue;
    if (visit(fields, count)) return;
  }
}

// True if the comma-separated member list contains `name`.
bool HasMember(const Field& members, const char* name, size_t n) {
  size_t start = 0;
  for (size_t i = 0; i <= members.n; ++i) {
    if (i == members.n || members.p[i] == ',') {
      if (FieldEquals(Field{members.p + start, i - start}, name, n)) return true;
      start = i + 1;
    }
  }
  return false;
}

}  // namespace

void ResolveUserInChild(LaunchPlan& plan, int rootfd, ResolvedUser* out, uint32_t* groups,
                        int max_groups) {
  const UserRequest& req = plan.user;
  uint64_t uid = req.uid, gid = 0;
  char name[256];
  name[0] = '\0';
  bool found = false;
  ssize_t len = ReadRootFileInChild(plan, rootfd, "etc/passwd");
  if (len >= 0) {
    ForEachEntry(plan.scratch.get(), static_cast<size_t>(len), [&](Field* f, int n) {
      if (n < 4) return false;
      uint64_t entry_uid = 0, entry_gid = 0;
      if (!ParseId(f[2], &entry_uid) || !ParseId(f[3], &entry_gid)) return false;
      bool match = req.user_numeric ? entry_uid == req.uid
                                    : FieldEquals(f[0], req.user.data(), req.user.size());
      if (!match) return false;
      uid = entry_uid;
      gid = entry_gid;
      size_t k = f[0].n < sizeof(name) - 1 ? f[0].n : sizeof(name) - 1;
      for (size_t i = 0; i < k; ++i) name[i] = f[0].p[i];
      name[k] = '\0';
      found = true;
      return true;
    });
  }
  if (!found && !req.user_numeric) FailInChild(Step::kResolveUser, ENOENT, 1, req.user.c_str());
  int ngroups = 0;
  bool want_supplementary = req.group.empty() && found;
  bool group_found = req.group.empty() || req.group_numeric;
  if (req.group_numeric) gid = req.gid;
  len = (want_supplementary || !group_found) ? ReadRootFileInChild(plan, rootfd, "etc/group") : -1;
  if (len >= 0) {
    size_t name_len = CStrLen(name);
    ForEachEntry(plan.scratch.get(), static_cast<size_t>(len), [&](Field* f, int n) {
      if (n < 3) return false;
      uint64_t entry_gid = 0;
      if (!ParseId(f[2], &entry_gid)) return false;
      if (!group_found && FieldEquals(f[0], req.group.data(), req.group.size())) {
        gid = entry_gid;
        group_found = true;
      }
      if (want_supplementary && n >= 4 && HasMember(f[3], name, name_len) &&
          entry_gid < plan.mapped_gids && ngroups < max_groups) {
        groups[ngroups++] = static_cast<uint32_t>(entry_gid);
      }
      return false;
    });
  }
  if (!group_found) FailInChild(Step::kResolveUser, ENOENT, 2, req.group.c_str());
  // The primary group leads the supplementary list (as initgroups and runc do).
  int kept = 0;
  uint32_t primary = static_cast<uint32_t>(gid);
  for (int i = 0; i < ngroups; ++i) {
    if (groups[i] != primary) groups[kept++] = groups[i];
  }
  for (int i = kept; i > 0; --i) groups[i] = groups[i - 1];
  groups[0] = primary;
  ngroups = kept + 1 <= max_groups ? kept + 1 : max_groups;
  if (uid >= plan.mapped_uids || gid >= plan.mapped_gids) {
    FailInChild(Step::kUnmappedUser, EINVAL, 0, nullptr, static_cast<int64_t>(uid),
                static_cast<int64_t>(gid));
  }
  out->uid = static_cast<uint32_t>(uid);
  out->gid = static_cast<uint32_t>(gid);
  out->ngroups = ngroups;
}

}  // namespace kiln::sandbox::internal
