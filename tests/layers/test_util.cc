#include "tests/layers/test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace kiln::snapshotter::testing {
namespace {

char TypeOf(mode_t m) {
  if (S_ISREG(m)) return 'f';
  if (S_ISDIR(m)) return 'd';
  if (S_ISLNK(m)) return 'l';
  if (S_ISFIFO(m)) return 'p';
  if (S_ISCHR(m)) return 'c';
  if (S_ISBLK(m)) return 'b';
  return 's';
}

std::map<std::string, std::string> UserXattrs(const std::string& path) {
  std::map<std::string, std::string> out;
  char names[4096];
  ssize_t n = ::llistxattr(path.c_str(), names, sizeof(names));
  for (ssize_t i = 0; i < n;) {
    std::string key(names + i);
    i += static_cast<ssize_t>(key.size()) + 1;
    if (key.rfind("user.", 0) != 0 || key.rfind("user.overlay.", 0) == 0) continue;
    char value[4096];
    ssize_t m = ::lgetxattr(path.c_str(), key.c_str(), value, sizeof(value));
    if (m >= 0) out[key] = std::string(value, static_cast<size_t>(m));
  }
  return out;
}

void Walk(const std::string& root, const std::string& rel, bool with_mtimes, Tree* tree,
          std::map<std::pair<dev_t, ino_t>, std::string>* inodes) {
  std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = ::opendir(dir.c_str());
  ASSERT_NE(d, nullptr) << "opendir " << dir << ": " << strerror(errno);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    std::string r = rel.empty() ? n : rel + "/" + n;
    std::string full = root + "/" + r;
    struct stat st {};
    ASSERT_EQ(::lstat(full.c_str(), &st), 0) << full;
    Node node;
    node.type = TypeOf(st.st_mode);
    node.mode = st.st_mode & 07777;
    node.uid = st.st_uid;
    node.gid = st.st_gid;
    node.mtime = with_mtimes ? st.st_mtim.tv_sec : 0;
    if (node.type == 'l') node.mode = 0;
    if (node.type == 'f') node.content = ReadFile(full);
    if (node.type == 'l') {
      char buf[4096];
      ssize_t k = ::readlink(full.c_str(), buf, sizeof(buf));
      node.content.assign(buf, static_cast<size_t>(std::max<ssize_t>(k, 0)));
    }
    if (node.type == 'c' || node.type == 'b') node.rdev = st.st_rdev;
    if (node.type != 'd' && st.st_nlink > 1) {
      auto [it, inserted] = inodes->emplace(std::make_pair(st.st_dev, st.st_ino), r);
      node.link_group = it->second;
    }
    node.xattrs = UserXattrs(full);
    (*tree)[r] = node;
    if (node.type == 'd') Walk(root, r, with_mtimes, tree, inodes);
  }
}

}  // namespace

Tree Snapshot(const std::string& root, bool with_mtimes) {
  Tree t;
  std::map<std::pair<dev_t, ino_t>, std::string> inodes;
  Walk(root, "", with_mtimes, &t, &inodes);
  return t;
}

std::string DiffTreesText(const Tree& want, const Tree& got) {
  std::ostringstream out;
  auto describe = [](const Node& n) {
    std::ostringstream s;
    s << n.type << " mode=" << std::oct << n.mode << std::dec << " " << n.uid << ":" << n.gid
      << " mtime=" << n.mtime << " size=" << n.content.size() << " rdev=" << n.rdev
      << " link_group=" << n.link_group << " xattrs=" << n.xattrs.size();
    if (n.type == 'l') s << " -> " << n.content;
    return s.str();
  };
  for (const auto& [p, n] : want) {
    auto it = got.find(p);
    if (it == got.end()) {
      out << "missing: " << p << "\n";
    } else if (!(it->second == n)) {
      out << "differs: " << p << "\n  want " << describe(n) << "\n  got  " << describe(it->second)
          << (it->second.content != n.content ? " (content differs)" : "")
          << (it->second.xattrs != n.xattrs ? " (xattrs differ)" : "") << "\n";
    }
  }
  for (const auto& [p, n] : got) {
    if (want.find(p) == want.end()) out << "unexpected: " << p << "\n";
  }
  return out.str();
}

void WriteFile(const std::string& path, const std::string& content, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0) << "create " << path << ": " << strerror(errno);
  ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  ASSERT_EQ(::fchmod(fd, mode), 0);
  ::close(fd);
}

void MakeDir(const std::string& path, mode_t mode) {
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0) << "mkdir " << path << ": " << strerror(errno);
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

void SetMtime(const std::string& path, int64_t sec) {
  struct timespec t[2] = {{static_cast<time_t>(sec), 0}, {static_cast<time_t>(sec), 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), t, AT_SYMLINK_NOFOLLOW), 0) << path;
}

void SetXattr(const std::string& path, const std::string& key, const std::string& value) {
  ASSERT_EQ(::lsetxattr(path.c_str(), key.c_str(), value.data(), value.size(), 0), 0)
      << "setxattr " << key << " on " << path << ": " << strerror(errno);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void CopyTree(const std::string& from, const std::string& to) {
  ASSERT_EQ(Shell("cp -a --preserve=all '" + from + "/.' '" + to + "/'"), 0);
}

int Shell(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

std::string SomeBytes(size_t n, uint32_t seed) {
  static const char* words[] = {"layer ", "kiln ",        "overlay ", "digest ", "sha256 ",
                                "tar ",   "\x01\x02\x03", "build ",   "cache ",  "\n"};
  std::string out;
  out.reserve(n + 16);
  uint32_t x = seed * 2654435761u + 1;
  while (out.size() < n) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    if (x % 7 == 0) {
      out.push_back(static_cast<char>(x >> 8));
    } else {
      out += words[x % 10];
    }
  }
  out.resize(n);
  return out;
}

std::string RawTarHeader(const RawHeader& h) {
  std::string b(512, '\0');
  auto put = [&](size_t off, size_t width, const std::string& s) {
    std::memcpy(b.data() + off, s.data(), std::min(width, s.size()));
  };
  auto octal = [&](size_t off, size_t width, uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%0*llo", static_cast<int>(width - 1),
                  static_cast<unsigned long long>(v));
    put(off, width - 1, buf);
  };
  put(0, 100, h.name);
  octal(100, 8, h.mode);
  octal(108, 8, h.uid);
  octal(116, 8, h.gid);
  octal(124, 12, static_cast<uint64_t>(h.size));
  octal(136, 12, static_cast<uint64_t>(h.mtime));
  b[156] = h.type;
  put(157, 100, h.linkname);
  put(257, 8,
      std::string("ustar\0"
                  "00",
                  8));
  octal(329, 8, h.devmajor);
  octal(337, 8, h.devminor);
  std::memset(b.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : b) sum += c;
  if (h.corrupt_checksum) sum += 1;
  char cs[8];
  std::snprintf(cs, sizeof(cs), "%06o", sum);
  std::memcpy(b.data() + 148, cs, 7);
  return b;
}

std::string RawTarEntry(const RawHeader& h, const std::string& data) {
  RawHeader hh = h;
  if (h.type == '0' && h.size == 0) hh.size = static_cast<int64_t>(data.size());
  std::string out = RawTarHeader(hh) + data;
  out.append((512 - data.size() % 512) % 512, '\0');
  return out;
}

std::string RawPax(const std::string& name,
                   const std::vector<std::pair<std::string, std::string>>& recs) {
  std::string body;
  for (const auto& [k, v] : recs) {
    size_t base = k.size() + v.size() + 3;
    size_t len = base + 1;
    while (std::to_string(len).size() + base != len) len = std::to_string(len).size() + base;
    body += std::to_string(len) + " " + k + "=" + v + "\n";
  }
  RawHeader h;
  h.name = name;
  h.type = 'x';
  h.size = static_cast<int64_t>(body.size());
  return RawTarEntry(h, body);
}

std::string RawTarEnd() { return std::string(1024, '\0'); }

}  // namespace kiln::snapshotter::testing
