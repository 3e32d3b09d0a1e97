#include "cache/fs_content_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/fs.h"
#include "base/lmdb.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "cache/codec.h"

namespace kiln::cache {
namespace {

using base::LmdbEnv;
using base::LmdbTxn;
using base::UniqueFd;
using Labels = std::map<std::string, std::string>;

constexpr size_t kWriteBuffer = 256 * 1024;
// Start writeback of every this many bytes of a big blob while it is still being written, so
// that the fsync before publishing waits for the tail only (a 200 MB layer: ~0.2 s less).
constexpr int64_t kWritebackChunk = 8 << 20;

struct BlobMeta {
  int64_t created_ns = 0;
  int64_t last_used_ns = 0;
  Labels labels;
  bool synthesized = false;  // no stored record: times come from the file (not encoded)
};

std::string EncodeMeta(const BlobMeta& m) {
  internal::Encoder e;
  e.I64(m.created_ns).I64(m.last_used_ns).U64(m.labels.size());
  for (const auto& [k, v] : m.labels) e.Str(k).Str(v);
  return e.Take();
}

absl::StatusOr<BlobMeta> DecodeMeta(std::string_view bytes, const base::Digest& d) {
  internal::Decoder dec(bytes);
  BlobMeta m;
  uint64_t n = 0;
  bool ok = dec.I64(&m.created_ns) && dec.I64(&m.last_used_ns) && dec.U64(&n);
  for (uint64_t i = 0; ok && i < n; ++i) {
    std::string k, v;
    ok = dec.Str(&k) && dec.Str(&v);
    if (ok) m.labels.emplace(std::move(k), std::move(v));
  }
  if (!ok || !dec.done()) {
    return absl::DataLossError(absl::StrCat("decode blob metadata '", d.str(), "': corrupt"));
  }
  return m;
}

void MergeLabels(Labels* into, Labels from) {
  for (auto& [k, v] : from) {
    if (v.empty()) {
      into->erase(k);
    } else {
      (*into)[k] = std::move(v);
    }
  }
}

// A unique-enough ingest name: getrandom, falling back to pid/time/counter if it fails
// (O_EXCL at create time catches any collision).
std::string RandomName() {
  unsigned char raw[12] = {};
  if (::getrandom(raw, sizeof(raw), GRND_NONBLOCK) != static_cast<ssize_t>(sizeof(raw))) {
    static std::atomic<uint64_t> counter{0};
    uint64_t mix[2] = {static_cast<uint64_t>(::getpid()) << 32 | counter.fetch_add(1),
                       static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()))};
    std::memcpy(raw, mix, sizeof(raw));
  }
  std::string out;
  char buf[3];
  for (unsigned char c : raw) {
    std::snprintf(buf, sizeof(buf), "%02x", c);
    out += buf;
  }
  return out;
}

absl::StatusOr<UniqueFd> OpenDir(const std::string& path) {
  KILN_RETURN_IF_ERROR(base::MkdirAll(path, 0777));  // less the umask, as before
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return base::ErrnoError(absl::StrCat("open '", path, "'"));
  return fd;
}

class FsContentStore;

class FsWriter final : public ContentWriter {
 public:
  FsWriter(FsContentStore* store, int ingest_dir, UniqueFd fd, std::string name, std::string ref,
           bool prehashed)
      : store_(store),
        ingest_dir_(ingest_dir),
        fd_(std::move(fd)),
        name_(std::move(name)),
        ref_(std::move(ref)),
        prehashed_(prehashed) {}
  ~FsWriter() override {
    if (!published_) ::unlinkat(ingest_dir_, name_.c_str(), 0);
  }

  absl::Status Write(const void* data, size_t len) override;
  int64_t Offset() const override { return offset_; }
  base::Digest CurrentDigest() override;
  absl::StatusOr<BlobInfo> Commit(const base::Digest& expected, Labels labels) override;

 private:
  absl::Status Flush();

  FsContentStore* store_;
  int ingest_dir_;
  UniqueFd fd_;
  std::string name_;
  std::string ref_;
  const bool prehashed_;  // the caller hashes; Commit trusts its digest
  base::Sha256 hash_;
  std::string buf_;
  int64_t offset_ = 0;
  int64_t written_ = 0;          // bytes handed to write(2)
  int64_t writeback_from_ = 0;   // first byte whose writeback has not been started
  bool done_ = false;
  bool published_ = false;
};

class FsContentStore final : public ContentStore {
 public:
  FsContentStore(std::string root, UniqueFd blobs, UniqueFd ingest, std::shared_ptr<LmdbEnv> env,
                 std::function<absl::Time()> now)
      : root_(std::move(root)),
        blobs_(std::move(blobs)),
        ingest_(std::move(ingest)),
        env_(std::move(env)),
        now_(std::move(now)) {}

  absl::Status CleanStaleIngests();

  absl::StatusOr<std::unique_ptr<ContentWriter>> Writer(std::string_view ref) override;
  absl::StatusOr<std::unique_ptr<ContentWriter>> PrehashedWriter(std::string_view ref) override;
  absl::StatusOr<BlobInfo> Put(std::string_view bytes, Labels labels) override;
  absl::StatusOr<BlobInfo> Info(const base::Digest& d) override;
  bool Has(const base::Digest& d) override;
  absl::StatusOr<std::string> ReadAll(const base::Digest& d, bool verify) override;
  absl::StatusOr<int> OpenRead(const base::Digest& d) override;
  std::string PathOf(const base::Digest& d) override {
    return absl::StrCat(root_, "/blobs/sha256/", d.hex());
  }
  absl::Status SetLabels(const base::Digest& d, Labels labels) override;
  absl::Status Touch(const base::Digest& d) override;
  absl::Status Delete(const base::Digest& d) override;
  absl::Status Walk(const std::function<void(const BlobInfo&)>& fn) override;

  // Moves a verified, fsynced ingest file into place (or drops it if the blob already exists)
  // and records metadata.
  absl::StatusOr<BlobInfo> Publish(const std::string& temp, const base::Digest& d, Labels labels);
  absl::StatusOr<std::unique_ptr<ContentWriter>> NewWriter(std::string_view ref, bool prehashed);

 private:
  absl::StatusOr<struct stat> StatBlob(const base::Digest& d, std::string_view op);
  // Reads the metadata of an existing blob, synthesizing it from `st` if it has none.
  absl::StatusOr<BlobMeta> LoadMeta(LmdbTxn& txn, const base::Digest& d, const struct stat& st);
  // Read-modify-write of one blob's metadata in a write transaction.
  absl::StatusOr<BlobInfo> UpdateMeta(const base::Digest& d, std::string_view op,
                                      const std::function<void(BlobMeta*)>& mutate);
  BlobInfo ToInfo(const base::Digest& d, const struct stat& st, BlobMeta m) const;
  int64_t NowNs() const { return absl::ToUnixNanos(now_()); }

  const std::string root_;
  const UniqueFd blobs_;
  const UniqueFd ingest_;
  const std::shared_ptr<LmdbEnv> env_;
  const std::function<absl::Time()> now_;
};

absl::Status FsWriter::Flush() {
  size_t off = 0;
  while (off < buf_.size()) {
    ssize_t n = ::write(fd_.get(), buf_.data() + off, buf_.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::ErrnoError(absl::StrCat("write ingest '", ref_, "'"));
    off += static_cast<size_t>(n);
  }
  written_ += static_cast<int64_t>(buf_.size());
  buf_.clear();
  if (written_ - writeback_from_ >= kWritebackChunk) {
    // Asynchronous: starts writing the range out and returns. Only a hint (fsync still decides
    // durability), so a failure here is ignored.
    (void)::sync_file_range(fd_.get(), writeback_from_, written_ - writeback_from_,
                            SYNC_FILE_RANGE_WRITE);
    writeback_from_ = written_;
  }
  return absl::OkStatus();
}

absl::Status FsWriter::Write(const void* data, size_t len) {
  if (done_) return absl::FailedPreconditionError(absl::StrCat("write '", ref_, "': committed"));
  if (!prehashed_) hash_.Update(data, len);
  offset_ += static_cast<int64_t>(len);
  buf_.append(static_cast<const char*>(data), len);
  if (buf_.size() >= kWriteBuffer) return Flush();
  return absl::OkStatus();
}

base::Digest FsWriter::CurrentDigest() {
  if (done_ || !Flush().ok()) return {};
  base::Sha256 h;
  std::string chunk(kWriteBuffer, '\0');
  off_t pos = 0;
  for (;;) {
    ssize_t n = ::pread(fd_.get(), chunk.data(), chunk.size(), pos);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    h.Update(chunk.data(), static_cast<size_t>(n));
    pos += n;
  }
  return h.Finish();
}

absl::StatusOr<BlobInfo> FsWriter::Commit(const base::Digest& expected, Labels labels) {
  if (done_) return absl::FailedPreconditionError(absl::StrCat("commit '", ref_, "': committed"));
  done_ = true;
  KILN_RETURN_IF_ERROR(Flush());
  if (prehashed_ && expected.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("commit '", ref_, "': a prehashed writer needs the blob's digest"));
  }
  base::Digest got = prehashed_ ? expected : hash_.Finish();
  if (!expected.empty() && expected != got) {
    return absl::DataLossError(absl::StrCat("commit '", ref_, "': digest mismatch: expected ",
                                            expected.str(), ", got ", got.str()));
  }
  if (::fsync(fd_.get()) != 0) return base::ErrnoError(absl::StrCat("fsync ingest '", ref_, "'"));
  published_ = true;  // Publish renames or removes the temp file
  return store_->Publish(name_, got, std::move(labels));
}

absl::Status FsContentStore::CleanStaleIngests() {
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> names,
                        base::ListDirNames(ingest_.get(), false, root_ + "/ingest"));
  for (const std::string& name : names) {
    UniqueFd fd(::openat(ingest_.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) continue;
    // A live writer holds LOCK_EX on its file; a lock we can take belongs to a dead one.
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) ::unlinkat(ingest_.get(), name.c_str(), 0);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ContentWriter>> FsContentStore::Writer(std::string_view ref) {
  return NewWriter(ref, /*prehashed=*/false);
}

absl::StatusOr<std::unique_ptr<ContentWriter>> FsContentStore::PrehashedWriter(
    std::string_view ref) {
  return NewWriter(ref, /*prehashed=*/true);
}

absl::StatusOr<std::unique_ptr<ContentWriter>> FsContentStore::NewWriter(std::string_view ref,
                                                                         bool prehashed) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::string name = RandomName();
    UniqueFd fd(::openat(ingest_.get(), name.c_str(),
                         O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444));
    if (!fd && errno == EEXIST) continue;
    if (!fd) return base::ErrnoError(absl::StrCat("create ingest '", root_, "/ingest/", name, "'"));
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // a cleaner got there first
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return base::ErrnoError("fstat ingest");
    if (st.st_nlink == 0) continue;  // removed by a concurrent CleanStaleIngests
    return std::unique_ptr<ContentWriter>(
        new FsWriter(this, ingest_.get(), std::move(fd), std::move(name), std::string(ref),
                     prehashed));
  }
  return absl::InternalError(absl::StrCat("create ingest in '", root_, "/ingest': no free name"));
}

absl::StatusOr<BlobInfo> FsContentStore::Put(std::string_view bytes, Labels labels) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<ContentWriter> w, Writer("put"));
  KILN_RETURN_IF_ERROR(w->Write(bytes));
  return w->Commit({}, std::move(labels));
}

absl::StatusOr<BlobInfo> FsContentStore::Publish(const std::string& temp, const base::Digest& d,
                                                 Labels labels) {
  int rc =
      ::renameat2(ingest_.get(), temp.c_str(), blobs_.get(), d.hex().c_str(), RENAME_NOREPLACE);
  if (rc != 0 && errno == EINVAL) {  // filesystem without RENAME_NOREPLACE: link is exclusive too
    rc = ::linkat(ingest_.get(), temp.c_str(), blobs_.get(), d.hex().c_str(), 0);
    if (rc == 0) ::unlinkat(ingest_.get(), temp.c_str(), 0);
  }
  if (rc != 0) {
    int err = errno;
    ::unlinkat(ingest_.get(), temp.c_str(), 0);
    if (err != EEXIST) return base::ErrnoError(err, absl::StrCat("publish blob '", d.str(), "'"));
    // EEXIST: another writer won; its bytes are the same by construction.
  } else if (::fsync(blobs_.get()) != 0) {
    return base::ErrnoError(absl::StrCat("fsync '", root_, "/blobs/sha256'"));
  }
  int64_t now = NowNs();
  return UpdateMeta(d, "commit", [&](BlobMeta* m) {
    // The winner may find labels that a losing writer merged a moment earlier: keep them.
    if (m->synthesized) m->created_ns = now;
    m->last_used_ns = now;
    MergeLabels(&m->labels, std::move(labels));
  });
}

absl::StatusOr<struct stat> FsContentStore::StatBlob(const base::Digest& d, std::string_view op) {
  struct stat st;
  if (d.empty())
    return absl::InvalidArgumentError(absl::StrCat(base::AsAbsl(op), ": empty digest"));
  if (::fstatat(blobs_.get(), d.hex().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat(base::AsAbsl(op), " '", d.str(), "': not found"));
    }
    return base::ErrnoError(absl::StrCat(base::AsAbsl(op), " '", d.str(), "'"));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::DataLossError(absl::StrCat(base::AsAbsl(op), " '", d.str(), "': not a file"));
  }
  return st;
}

absl::StatusOr<BlobMeta> FsContentStore::LoadMeta(LmdbTxn& txn, const base::Digest& d,
                                                  const struct stat& st) {
  KILN_ASSIGN_OR_RETURN(std::optional<std::string_view> raw, txn.Get(env_->dbi(0), d.hex()));
  if (raw.has_value()) return DecodeMeta(*raw, d);
  int64_t mtime = absl::ToUnixNanos(absl::TimeFromTimespec(st.st_mtim));
  return BlobMeta{mtime, mtime, {}, /*synthesized=*/true};
}

BlobInfo FsContentStore::ToInfo(const base::Digest& d, const struct stat& st, BlobMeta m) const {
  BlobInfo info;
  info.digest = d;
  info.size = st.st_size;
  info.created_at = absl::FromUnixNanos(m.created_ns);
  info.last_used = absl::FromUnixNanos(m.last_used_ns);
  info.labels = std::move(m.labels);
  return info;
}

absl::StatusOr<BlobInfo> FsContentStore::UpdateMeta(const base::Digest& d, std::string_view op,
                                                    const std::function<void(BlobMeta*)>& mutate) {
  KILN_ASSIGN_OR_RETURN(struct stat st, StatBlob(d, op));
  KILN_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/true));
  KILN_ASSIGN_OR_RETURN(BlobMeta m, LoadMeta(txn, d, st));
  mutate(&m);
  KILN_RETURN_IF_ERROR(txn.Put(env_->dbi(0), d.hex(), EncodeMeta(m)));
  KILN_RETURN_IF_ERROR(txn.Commit());
  return ToInfo(d, st, std::move(m));
}

absl::StatusOr<BlobInfo> FsContentStore::Info(const base::Digest& d) {
  KILN_ASSIGN_OR_RETURN(struct stat st, StatBlob(d, "content info"));
  KILN_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/false));
  KILN_ASSIGN_OR_RETURN(BlobMeta m, LoadMeta(txn, d, st));
  return ToInfo(d, st, std::move(m));
}

bool FsContentStore::Has(const base::Digest& d) { return StatBlob(d, "has").ok(); }

absl::StatusOr<int> FsContentStore::OpenRead(const base::Digest& d) {
  if (d.empty()) return absl::InvalidArgumentError("open blob: empty digest");
  int fd = ::openat(blobs_.get(), d.hex().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    return absl::NotFoundError(absl::StrCat("open blob '", d.str(), "': not found"));
  }
  if (fd < 0) return base::ErrnoError(absl::StrCat("open blob '", d.str(), "'"));
  return fd;
}

absl::StatusOr<std::string> FsContentStore::ReadAll(const base::Digest& d, bool verify) {
  KILN_ASSIGN_OR_RETURN(int raw_fd, OpenRead(d));
  UniqueFd fd(raw_fd);
  std::string out;
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::ErrnoError(absl::StrCat("read blob '", d.str(), "'"));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  if (verify) {
    base::Digest got = base::Digest::Of(out);
    if (got != d) {
      return absl::DataLossError(
          absl::StrCat("read blob '", d.str(), "': digest mismatch: content is ", got.str()));
    }
  }
  return out;
}

absl::Status FsContentStore::SetLabels(const base::Digest& d, Labels labels) {
  return UpdateMeta(d, "set labels",
                    [&](BlobMeta* m) { MergeLabels(&m->labels, std::move(labels)); })
      .status();
}

absl::Status FsContentStore::Touch(const base::Digest& d) {
  int64_t now = NowNs();
  return UpdateMeta(d, "touch", [&](BlobMeta* m) { m->last_used_ns = now; }).status();
}

absl::Status FsContentStore::Delete(const base::Digest& d) {
  KILN_RETURN_IF_ERROR(StatBlob(d, "delete blob").status());
  // Metadata first: a crash in between leaves a blob without labels, never labels without blob.
  KILN_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/true));
  KILN_RETURN_IF_ERROR(txn.Del(env_->dbi(0), d.hex()).status());
  KILN_RETURN_IF_ERROR(txn.Commit());
  if (::unlinkat(blobs_.get(), d.hex().c_str(), 0) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("delete blob '", d.str(), "': not found"));
    }
    return base::ErrnoError(absl::StrCat("delete blob '", d.str(), "'"));
  }
  return absl::OkStatus();
}

absl::Status FsContentStore::Walk(const std::function<void(const BlobInfo&)>& fn) {
  KILN_ASSIGN_OR_RETURN(std::vector<std::string> names,
                        base::ListDirNames(blobs_.get(), false, root_ + "/blobs/sha256"));
  std::vector<BlobInfo> infos;
  {
    KILN_ASSIGN_OR_RETURN(LmdbTxn txn, LmdbTxn::Begin(*env_, /*write=*/false));
    for (const std::string& name : names) {
      absl::StatusOr<base::Digest> d = base::Digest::Parse("sha256:" + name);
      if (!d.ok()) continue;  // not a blob (stray file)
      struct stat st;
      if (::fstatat(blobs_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (!S_ISREG(st.st_mode)) continue;
      KILN_ASSIGN_OR_RETURN(BlobMeta m, LoadMeta(txn, *d, st));
      infos.push_back(ToInfo(*d, st, std::move(m)));
    }
  }
  for (const BlobInfo& info : infos) fn(info);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ContentStore>> OpenFsContentStore(const std::string& root) {
  return OpenFsContentStore(root, FsContentStoreOptions{});
}

absl::StatusOr<std::unique_ptr<ContentStore>> OpenFsContentStore(
    const std::string& root, const FsContentStoreOptions& options) {
  KILN_ASSIGN_OR_RETURN(UniqueFd blobs, OpenDir(root + "/blobs/sha256"));
  KILN_ASSIGN_OR_RETURN(UniqueFd ingest, OpenDir(root + "/ingest"));
  LmdbEnv::Options env_options;
  env_options.databases = {"blobs"};
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<LmdbEnv> env, LmdbEnv::Open(root + "/meta", env_options));
  std::function<absl::Time()> now = options.now ? options.now : [] { return absl::Now(); };
  auto store = std::make_unique<FsContentStore>(root, std::move(blobs), std::move(ingest),
                                                std::move(env), std::move(now));
  KILN_RETURN_IF_ERROR(store->CleanStaleIngests());
  return std::unique_ptr<ContentStore>(std::move(store));
}

}  // namespace kiln::cache
