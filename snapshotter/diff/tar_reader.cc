#include "snapshotter/diff/tar_reader.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace kiln::snapshotter::internal {
namespace {

constexpr size_t kBlock = 512;

std::string Field(const char* h, size_t off, size_t width) {
  const char* p = h + off;
  return std::string(p, strnlen(p, width));
}

// Octal (optionally space/NUL padded) or GNU base-256. False if malformed.
bool ParseNumber(const char* h, size_t off, size_t width, int64_t* out) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(h + off);
  if (p[0] & 0x80) {
    if (p[0] == 0xff) return false;  // negative
    uint64_t v = p[0] & 0x7f;
    for (size_t i = 1; i < width; ++i) {
      if (v > (UINT64_MAX >> 9)) return false;
      v = (v << 8) | p[i];
    }
    if (v > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = static_cast<int64_t>(v);
    return true;
  }
  size_t i = 0;
  while (i < width && (p[i] == ' ' || p[i] == '\0')) ++i;
  uint64_t v = 0;
  for (; i < width && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (v > (uint64_t{1} << 60)) return false;
    v = v * 8 + (p[i] - '0');
  }
  for (; i < width; ++i) {
    if (p[i] != ' ' && p[i] != '\0') return false;
  }
  *out = static_cast<int64_t>(v);
  return true;
}

bool ChecksumOk(const char* h) {
  int64_t want = 0;
  if (!ParseNumber(h, 148, 8, &want)) return false;
  int64_t usum = 0, ssum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    bool in_field = i >= 148 && i < 156;
    usum += in_field ? ' ' : static_cast<unsigned char>(h[i]);
    ssum += in_field ? ' ' : static_cast<signed char>(h[i]);
  }
  return want == usum || want == ssum;
}

std::string StripTrailingSlashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

struct Overrides {
  std::optional<std::string> path, linkpath;
  std::optional<int64_t> size, uid, gid, mtime;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

}  // namespace

absl::Status TarReader::ReadFull(void* buf, size_t len, const char* what) {
  char* p = static_cast<char*>(buf);
  size_t got = 0;
  while (got < len) {
    KILN_ASSIGN_OR_RETURN(size_t n, in_->Read(p + got, len - got));
    if (n == 0) {
      return absl::DataLossError(
          absl::StrCat("tar truncated at offset ", offset_ + got, " (inside ", what, ")"));
    }
    got += n;
  }
  offset_ += static_cast<int64_t>(len);
  return absl::OkStatus();
}

absl::Status TarReader::Skip(int64_t n) {
  char buf[16384];
  while (n > 0) {
    size_t chunk = static_cast<size_t>(std::min<int64_t>(n, sizeof(buf)));
    KILN_RETURN_IF_ERROR(ReadFull(buf, chunk, "entry data"));
    n -= static_cast<int64_t>(chunk);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> TarReader::ReadExtended(int64_t size) {
  if (size < 0 || size > kMaxExtendedHeader) {
    return absl::InvalidArgumentError(
        absl::StrCat("tar header at offset ", offset_ - 512, ": extended header of ", size,
                     " bytes exceeds the limit of ", kMaxExtendedHeader));
  }
  std::string data(static_cast<size_t>(size), '\0');
  KILN_RETURN_IF_ERROR(ReadFull(data.data(), data.size(), "extended header"));
  KILN_RETURN_IF_ERROR(Skip((static_cast<int64_t>(kBlock) - size % kBlock) % kBlock));
  return data;
}

absl::StatusOr<size_t> TarReader::ReadData(void* buf, size_t len) {
  if (remaining_ == 0) return size_t{0};
  size_t want = static_cast<size_t>(std::min<int64_t>(remaining_, static_cast<int64_t>(len)));
  KILN_ASSIGN_OR_RETURN(size_t n, in_->Read(buf, want));
  if (n == 0) {
    return absl::DataLossError(
        absl::StrCat("tar truncated at offset ", offset_, " (inside file data)"));
  }
  remaining_ -= static_cast<int64_t>(n);
  offset_ += static_cast<int64_t>(n);
  return n;
}

namespace {

absl::Status ParsePax(const std::string& text, int64_t at, Overrides* o) {
  size_t pos = 0;
  auto bad = [&](const char* why) {
    return absl::InvalidArgumentError(absl::StrCat("tar pax header at offset ", at, ": ", why));
  };
  while (pos < text.size()) {
    size_t sp = text.find(' ', pos);
    if (sp == std::string::npos || sp - pos > 12) return bad("record without a length");
    uint64_t len = 0;
    if (!absl::SimpleAtoi(absl::string_view(text.data() + pos, sp - pos), &len) ||
        len <= sp - pos + 1 || len > text.size() - pos) {
      return bad("bad record length");
    }
    std::string rec = text.substr(sp + 1, pos + len - sp - 1);
    pos += len;
    if (rec.empty() || rec.back() != '\n') return bad("record not ended by a newline");
    rec.pop_back();
    size_t eq = rec.find('=');
    if (eq == std::string::npos) return bad("record without '='");
    std::string key = rec.substr(0, eq), value = rec.substr(eq + 1);
    auto number = [&](std::optional<int64_t>* out) -> absl::Status {
      std::string v = value.substr(0, value.find('.'));  // mtime may carry a fraction
      int64_t n = 0;
      if (!absl::SimpleAtoi(v, &n)) return bad("bad numeric value");
      *out = n;
      return absl::OkStatus();
    };
    if (key == "path") {
      o->path = value;
    } else if (key == "linkpath") {
      o->linkpath = value;
    } else if (key == "size") {
      KILN_RETURN_IF_ERROR(number(&o->size));
    } else if (key == "uid") {
      KILN_RETURN_IF_ERROR(number(&o->uid));
    } else if (key == "gid") {
      KILN_RETURN_IF_ERROR(number(&o->gid));
    } else if (key == "mtime") {
      KILN_RETURN_IF_ERROR(number(&o->mtime));
    } else if (absl::StartsWith(key, "SCHILY.xattr.")) {
      o->xattrs.emplace_back(key.substr(13), value);
    }
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

// Builds the entry a (non-extended) ustar header describes, with pax/GNU overrides applied.
// `*data_size` gets the size of the data that follows the header.
absl::StatusOr<TarEntry> EntryFromHeader(const char* h, int64_t at, Overrides o,
                                         int64_t* data_size) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("tar header at offset ", at, ": ", why));
  };
  int64_t size = 0, mode = 0, uid = 0, gid = 0, mtime = 0, major = 0, minor = 0;
  if (!ParseNumber(h, 124, 12, &size) || !ParseNumber(h, 100, 8, &mode) ||
      !ParseNumber(h, 108, 8, &uid) || !ParseNumber(h, 116, 8, &gid) ||
      !ParseNumber(h, 136, 12, &mtime) || !ParseNumber(h, 329, 8, &major) ||
      !ParseNumber(h, 337, 8, &minor)) {
    return bad("bad numeric field");
  }
  TarEntry e;
  std::string name = Field(h, 0, 100);
  if (std::memcmp(h + 257, "ustar", 5) == 0) {
    std::string prefix = Field(h, 345, 155);
    if (!prefix.empty()) name = prefix + "/" + name;
  }
  if (o.path) name = *o.path;
  e.linkname = o.linkpath ? *o.linkpath : Field(h, 157, 100);
  char type = h[156];
  switch (type) {
    case '0':
    case '\0':
    case '7':
      e.type = (!name.empty() && name.back() == '/') ? EntryType::kDir : EntryType::kFile;
      break;
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
      e.type = static_cast<EntryType>(type);
      break;
    default:
      return bad(absl::StrCat("unsupported entry type '", std::string(1, type), "'"));
  }
  if (name.size() > kMaxPath || e.linkname.size() > kMaxPath) {
    return bad(absl::StrCat("path longer than ", kMaxPath, " bytes"));
  }
  if (name.find('\0') != std::string::npos || e.linkname.find('\0') != std::string::npos) {
    return bad("NUL byte in a path");
  }
  e.path = StripTrailingSlashes(name);
  if (o.size) size = *o.size;
  if (o.uid) uid = *o.uid;
  if (o.gid) gid = *o.gid;
  if (o.mtime) mtime = *o.mtime;
  if (size < 0 || uid < 0 || gid < 0 || uid > UINT32_MAX || gid > UINT32_MAX) {
    return bad("negative or out-of-range size/uid/gid");
  }
  e.mode = static_cast<uint32_t>(mode & 07777);
  e.uid = static_cast<uint32_t>(uid);
  e.gid = static_cast<uint32_t>(gid);
  e.mtime = mtime;
  e.devmajor = static_cast<uint32_t>(major);
  e.devminor = static_cast<uint32_t>(minor);
  e.xattrs = std::move(o.xattrs);
  e.size = e.type == EntryType::kFile ? size : 0;  // only regular files carry data
  *data_size = size;
  return e;
}

}  // namespace

absl::StatusOr<std::optional<TarEntry>> TarReader::Next() {
  if (done_) return std::nullopt;
  KILN_RETURN_IF_ERROR(Skip(remaining_ + padding_));
  remaining_ = padding_ = 0;
  Overrides o;
  bool have_overrides = false;
  char h[kBlock];
  for (;;) {
    int64_t at = offset_;
    // A clean end of stream at a header boundary ends the archive.
    KILN_ASSIGN_OR_RETURN(size_t first, in_->Read(h, kBlock));
    if (first == 0) {
      if (have_overrides) return absl::DataLossError("tar truncated after an extended header");
      done_ = true;
      return std::nullopt;
    }
    offset_ += static_cast<int64_t>(first);
    if (first < kBlock) KILN_RETURN_IF_ERROR(ReadFull(h + first, kBlock - first, "a header"));
    if (std::all_of(h, h + kBlock, [](char c) { return c == '\0'; })) {
      done_ = true;
      return std::nullopt;
    }
    if (!ChecksumOk(h)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tar header at offset ", at, ": checksum mismatch (not a tar archive, or corrupt)"));
    }
    char type = h[156];
    if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
      int64_t size = 0;
      if (!ParseNumber(h, 124, 12, &size)) {
        return absl::InvalidArgumentError(
            absl::StrCat("tar header at offset ", at, ": bad size field"));
      }
      KILN_ASSIGN_OR_RETURN(std::string data, ReadExtended(size));
      have_overrides = true;
      if (type == 'x') KILN_RETURN_IF_ERROR(ParsePax(data, at, &o));
      if (type == 'L') o.path = data.substr(0, strnlen(data.c_str(), data.size()));
      if (type == 'K') o.linkpath = data.substr(0, strnlen(data.c_str(), data.size()));
      continue;
    }
    int64_t size = 0;
    KILN_ASSIGN_OR_RETURN(TarEntry e, EntryFromHeader(h, at, std::move(o), &size));
    remaining_ = size;
    padding_ = (static_cast<int64_t>(kBlock) - size % kBlock) % kBlock;
    if (e.type != EntryType::kFile) {
      KILN_RETURN_IF_ERROR(Skip(remaining_ + padding_));
      remaining_ = padding_ = 0;
    }
    return e;
  }
}

}  // namespace kiln::snapshotter::internal
