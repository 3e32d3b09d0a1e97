#include "snapshotter/diff/tar_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace kiln::snapshotter::internal {
namespace {

constexpr size_t kBlock = 512;
constexpr size_t kBufferSize = 256 * 1024;
constexpr int64_t kMaxOctal8 = 07777777;         // 7 digits (uid/gid/mode fields)
constexpr int64_t kMaxOctal12 = 077777777777LL;  // 11 digits (size/mtime fields)

// width-1 zero-padded octal digits, then NUL. Callers clamp `value` to fit.
void PutOctal(char* field, size_t width, uint64_t value) {
  field[width - 1] = '\0';
  for (size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
}

void PutString(char* field, size_t width, const std::string& s) {
  std::memcpy(field, s.data(), std::min(width, s.size()));
}

}  // namespace

std::string PaxRecord(const std::string& key, const std::string& value) {
  // The length prefix counts itself; iterate until stable.
  size_t body = key.size() + value.size() + 3;  // ' ' '=' '\n'
  size_t len = body + 1;
  for (;;) {
    size_t total = body + std::to_string(len).size();
    if (total == len) break;
    len = total;
  }
  return absl::StrCat(len, " ", key, "=", value, "\n");
}

std::string UstarHeader(const TarEntry& e, char typeflag) {
  std::string h(kBlock, '\0');
  char* b = h.data();
  std::string name = e.path;
  if (e.type == EntryType::kDir && typeflag == static_cast<char>(EntryType::kDir)) name += '/';
  PutString(b + 0, 100, name);
  PutOctal(b + 100, 8, e.mode & 07777);
  PutOctal(b + 108, 8, static_cast<uint64_t>(std::min<int64_t>(e.uid, kMaxOctal8)));
  PutOctal(b + 116, 8, static_cast<uint64_t>(std::min<int64_t>(e.gid, kMaxOctal8)));
  PutOctal(b + 124, 12, static_cast<uint64_t>(std::clamp<int64_t>(e.size, 0, kMaxOctal12)));
  PutOctal(b + 136, 12, static_cast<uint64_t>(std::clamp<int64_t>(e.mtime, 0, kMaxOctal12)));
  b[156] = typeflag;
  PutString(b + 157, 100, e.linkname);
  std::memcpy(b + 257,
              "ustar\0"
              "00",
              8);
  if (e.type == EntryType::kChar || e.type == EntryType::kBlock) {
    PutOctal(b + 329, 8, e.devmajor);
    PutOctal(b + 337, 8, e.devminor);
  }
  std::memset(b + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < kBlock; ++i) sum += static_cast<unsigned char>(b[i]);
  PutOctal(b + 148, 7, sum);  // 6 digits and NUL, then the space stays
  b[155] = ' ';
  return h;
}

TarWriter::TarWriter(ByteSink* out) : out_(out) {}

absl::Status TarWriter::EnsureBuffer() {
  if (buf_ != nullptr && used_ < cap_) return absl::OkStatus();
  if (buf_ != nullptr) KILN_RETURN_IF_ERROR(Flush());
  if (buf_ != nullptr) return absl::OkStatus();  // own buffer, now empty
  if (sink_lends_) {
    KILN_ASSIGN_OR_RETURN(ByteSink::Lent lent, out_->Lend());
    if (lent.data != nullptr && lent.size >= kBlock) {
      buf_ = lent.data;
      cap_ = lent.size;
      lent_ = true;
      return absl::OkStatus();
    }
    if (lent.data != nullptr) KILN_RETURN_IF_ERROR(out_->WriteLent(lent.data, 0));
    sink_lends_ = false;
  }
  if (own_ == nullptr) own_.reset(new char[kBufferSize]);
  buf_ = own_.get();
  cap_ = kBufferSize;
  lent_ = false;
  return absl::OkStatus();
}

absl::Status TarWriter::WriteHeader(const TarEntry& e) {
  if (e.path.empty()) return absl::InvalidArgumentError("tar: entry with an empty path");
  KILN_RETURN_IF_ERROR(FinishData());
  std::string pax;
  std::string name = e.type == EntryType::kDir ? e.path + "/" : e.path;
  if (name.size() > 100) pax += PaxRecord("path", name);
  if (e.linkname.size() > 100) pax += PaxRecord("linkpath", e.linkname);
  if (e.uid > kMaxOctal8) pax += PaxRecord("uid", std::to_string(e.uid));
  if (e.gid > kMaxOctal8) pax += PaxRecord("gid", std::to_string(e.gid));
  if (e.size > kMaxOctal12) pax += PaxRecord("size", std::to_string(e.size));
  if (e.mtime < 0 || e.mtime > kMaxOctal12) pax += PaxRecord("mtime", std::to_string(e.mtime));
  for (const auto& [k, v] : e.xattrs) pax += PaxRecord("SCHILY.xattr." + k, v);
  if (!pax.empty()) {
    TarEntry x;
    x.path = "PaxHeaders/" + e.path.substr(0, 80);
    x.mode = 0644;
    x.size = static_cast<int64_t>(pax.size());
    KILN_RETURN_IF_ERROR(Put(UstarHeader(x, 'x').data(), kBlock));
    KILN_RETURN_IF_ERROR(Put(pax.data(), pax.size()));
    KILN_RETURN_IF_ERROR(PutZeros((kBlock - pax.size() % kBlock) % kBlock));
  }
  KILN_RETURN_IF_ERROR(Put(UstarHeader(e, static_cast<char>(e.type)).data(), kBlock));
  remaining_ = e.type == EntryType::kFile ? e.size : 0;
  padding_ = static_cast<int64_t>((kBlock - static_cast<size_t>(remaining_) % kBlock) % kBlock);
  return absl::OkStatus();
}

absl::Status TarWriter::WriteData(const void* data, size_t len) {
  if (static_cast<int64_t>(len) > remaining_) {
    return absl::InvalidArgumentError("tar: file grew while being archived");
  }
  remaining_ -= static_cast<int64_t>(len);
  if (len >= kBufferSize && !lent_) {
    KILN_RETURN_IF_ERROR(Flush());
    return out_->Write(data, len);
  }
  return Put(data, len);
}

absl::StatusOr<size_t> TarWriter::ReadDataFrom(int fd) {
  if (remaining_ == 0) return size_t{0};
  KILN_RETURN_IF_ERROR(EnsureBuffer());
  size_t want = std::min(cap_ - used_, static_cast<size_t>(remaining_));
  for (;;) {
    ssize_t n = ::read(fd, buf_ + used_, want);
    if (n >= 0) {
      used_ += static_cast<size_t>(n);
      remaining_ -= n;
      return static_cast<size_t>(n);
    }
    if (errno != EINTR) return base::ErrnoError("read file data");
  }
}

absl::Status TarWriter::FinishData() {
  if (remaining_ != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("tar: entry data short by ", remaining_, " bytes (file shrank?)"));
  }
  size_t pad = static_cast<size_t>(padding_);
  padding_ = 0;
  return PutZeros(pad);
}

absl::Status TarWriter::Close() {
  KILN_RETURN_IF_ERROR(FinishData());
  KILN_RETURN_IF_ERROR(PutZeros(2 * kBlock));
  return Flush();
}

absl::Status TarWriter::Put(const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    KILN_RETURN_IF_ERROR(EnsureBuffer());
    size_t n = std::min(len, cap_ - used_);
    std::memcpy(buf_ + used_, p, n);
    used_ += n;
    p += n;
    len -= n;
  }
  return absl::OkStatus();
}

absl::Status TarWriter::PutZeros(size_t len) {
  while (len > 0) {
    KILN_RETURN_IF_ERROR(EnsureBuffer());
    size_t n = std::min(len, cap_ - used_);
    std::memset(buf_ + used_, 0, n);
    used_ += n;
    len -= n;
  }
  return absl::OkStatus();
}

absl::Status TarWriter::Flush() {
  size_t n = std::exchange(used_, 0);
  if (lent_) {
    // Handed back even when empty: the sink gets its buffer back.
    lent_ = false;
    return out_->WriteLent(std::exchange(buf_, nullptr), n);
  }
  if (n == 0) return absl::OkStatus();
  return out_->Write(buf_, n);
}

}  // namespace kiln::snapshotter::internal
