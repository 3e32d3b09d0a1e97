#include "cache/checksum_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "base/fs.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "cache/codec.h"

namespace kiln::cache::internal {
namespace {

constexpr std::string_view kMagic = "KILNCSC1";

}  // namespace

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}
int64_t CtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
}

bool CachedFile::Matches(const struct stat& st) const {
  return dev == static_cast<uint64_t>(st.st_dev) && ino == static_cast<uint64_t>(st.st_ino) &&
         size == static_cast<int64_t>(st.st_size) && mtime_ns == MtimeNs(st) &&
         ctime_ns == CtimeNs(st) && mode == static_cast<uint32_t>(st.st_mode);
}

CachedFile CachedFile::FromStat(const struct stat& st, base::Xxh128 hash, bool racy) {
  CachedFile f;
  f.dev = static_cast<uint64_t>(st.st_dev);
  f.ino = static_cast<uint64_t>(st.st_ino);
  f.size = static_cast<int64_t>(st.st_size);
  f.mtime_ns = MtimeNs(st);
  f.ctime_ns = CtimeNs(st);
  f.mode = static_cast<uint32_t>(st.st_mode);
  f.hash = hash;
  f.racy = racy;
  return f;
}

std::string EncodeChecksumState(const ChecksumState& state) {
  Encoder e;
  std::string out(kMagic);
  e.U64(state.size());
  for (const auto& [path, f] : state) {
    e.Str(path).U64(f.dev).U64(f.ino).I64(f.size).I64(f.mtime_ns).I64(f.ctime_ns).U64(f.mode);
    e.U64(f.hash.high).U64(f.hash.low).U64(f.racy ? 1 : 0);
  }
  out += e.bytes();
  base::Xxh128 sum = base::Xxh128Of(out);
  Encoder trailer;
  trailer.U64(sum.high).U64(sum.low);
  out += trailer.bytes();
  return out;
}

absl::StatusOr<ChecksumState> DecodeChecksumState(std::string_view bytes) {
  auto corrupt = [] { return absl::DataLossError("decode checksum state: corrupt"); };
  if (bytes.size() < kMagic.size() + 16 || bytes.substr(0, kMagic.size()) != kMagic) {
    return corrupt();
  }
  std::string_view body = bytes.substr(0, bytes.size() - 16);
  Decoder trailer(bytes.substr(bytes.size() - 16));
  base::Xxh128 want;
  if (!trailer.U64(&want.high) || !trailer.U64(&want.low) || base::Xxh128Of(body) != want) {
    return corrupt();
  }
  Decoder dec(body.substr(kMagic.size()));
  uint64_t n = 0;
  if (!dec.U64(&n)) return corrupt();
  ChecksumState state;
  for (uint64_t i = 0; i < n; ++i) {
    std::string path;
    CachedFile f;
    uint64_t mode = 0, racy = 0;
    if (!(dec.Str(&path) && dec.U64(&f.dev) && dec.U64(&f.ino) && dec.I64(&f.size) &&
          dec.I64(&f.mtime_ns) && dec.I64(&f.ctime_ns) && dec.U64(&mode) && dec.U64(&f.hash.high) &&
          dec.U64(&f.hash.low) && dec.U64(&racy))) {
      return corrupt();
    }
    f.mode = static_cast<uint32_t>(mode);
    f.racy = racy != 0;
    state.emplace(std::move(path), f);
  }
  if (!dec.done()) return corrupt();
  return state;
}

absl::StatusOr<std::optional<std::string>> ReadFileIfExists(const std::string& path) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd && errno == ENOENT) return std::optional<std::string>();
  if (!fd) return base::ErrnoError(absl::StrCat("open '", path, "'"));
  KILN_ASSIGN_OR_RETURN(std::string out, base::ReadAll(fd.get(), path));
  return std::optional<std::string>(std::move(out));
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view bytes) {
  base::WriteFileOptions o;
  o.sync_dir = true;
  return base::WriteFileAtomically(path, bytes, o);
}

}  // namespace kiln::cache::internal
