#include "snapshotter/diff/zstd_frame_encoder.h"

#include <sys/mman.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/digest.h"
#include "base/status.h"

namespace kiln::snapshotter::internal {
namespace {

// What the caller lends the tar writer at a time: small enough that the diffID hash reads the
// bytes from the L2 cache right after read(2) wrote them there.
constexpr size_t kLendSize = size_t{256} << 10;

// The caller compresses a frame itself once this many wait for a worker, so that the workers
// keep two frames (~70 ms of work) queued while the caller compresses: a caller that is
// descheduled or slowed by a stretch of small files does not leave them idle at once. With
// 2 (one queued) the worker waited 0.26-0.51 s per 500 MB diff on the busy 2-CPU machine,
// with 3: 0.12-0.17 s (startup and tail included).
constexpr size_t kStealAt = 3;

struct CctxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
using Cctx = std::unique_ptr<ZSTD_CCtx, CctxDeleter>;

absl::StatusOr<Cctx> NewCctx(int level) {
  Cctx c(ZSTD_createCCtx());
  if (c == nullptr) return absl::ResourceExhaustedError("zstd: cannot allocate a context");
  size_t rc = ZSTD_CCtx_setParameter(c.get(), ZSTD_c_compressionLevel, level);
  if (ZSTD_isError(rc)) {
    return absl::InvalidArgumentError(
        absl::StrCat("zstd level ", level, ": ", ZSTD_getErrorName(rc)));
  }
  // No frame checksum: the diffID and blob digest (SHA-256) already cover every byte.
  return c;
}

// Anonymous memory in transparent huge pages where the kernel has them: a frame's buffers
// are touched from scratch by every encoder, and with 4 KiB pages that is ~4,000 page faults
// per 8 MiB frame (2 % of a diff's CPU time on this shadow-paged VM; 2 MiB pages: ~10).
struct Unmap {
  size_t size = 0;
  void operator()(char* p) const { ::munmap(p, size); }
};
using Pages = std::unique_ptr<char, Unmap>;

constexpr size_t kHugePage = size_t{2} << 20;

absl::StatusOr<Pages> MapPages(size_t size) {
  size = (size + kHugePage - 1) / kHugePage * kHugePage;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return base::ErrnoError("map a zstd frame buffer");
  (void)::madvise(p, size, MADV_HUGEPAGE);  // a hint: without THP, 4 KiB pages work as well
  return Pages(static_cast<char*>(p), Unmap{size});
}

// One frame: its input, then (once `done`) its compressed bytes or an error.
struct Frame {
  // kZstdFrameSize plus one lent chunk: a lent chunk may run past the frame's end when Write
  // and Lend are mixed; the excess is carried into the next frame.
  static constexpr size_t kInCapacity = kZstdFrameSize + kLendSize;
  static size_t OutCapacity() { return ZSTD_compressBound(kZstdFrameSize); }

  Pages in;
  size_t in_size = 0;
  Pages out;
  size_t out_size = 0;
  std::string error;
  bool done = false;  // guarded by the encoder's mu_

  // Runs on whichever thread took the frame; touches only this frame.
  void Compress(ZSTD_CCtx* cctx) {
    size_t n = ZSTD_compress2(cctx, out.get(), OutCapacity(), in.get(), in_size);
    if (ZSTD_isError(n)) {
      error = ZSTD_getErrorName(n);
      out_size = 0;
    } else {
      out_size = n;
    }
  }
};

class ZstdFrameEncoder : public LayerEncoder {
 public:
  ZstdFrameEncoder(ByteSink* sink, Cctx caller_cctx, std::vector<Cctx> worker_cctxs)
      : sink_(sink),
        caller_cctx_(std::move(caller_cctx)),
        worker_cctxs_(std::move(worker_cctxs)),
        max_in_flight_(worker_cctxs_.size() + 1 + kStealAt) {
    for (Cctx& c : worker_cctxs_) workers_.emplace_back([this, cc = c.get()] { WorkerLoop(cc); });
  }

  // An unfinished encoder drops the frames no worker has started, then joins.
  ~ZstdFrameEncoder() override { StopWorkers(/*drop_pending=*/true); }

  absl::Status Write(const void* data, size_t len) override {
    KILN_RETURN_IF_ERROR(failed_);
    if (finished_) return absl::FailedPreconditionError("layer encoder: write after Finish");
    if (lent_) return absl::FailedPreconditionError("layer encoder: write while a buffer is lent");
    const char* p = static_cast<const char*>(data);
    while (len > 0) {
      if (filling_ == nullptr) {
        KILN_ASSIGN_OR_RETURN(filling_, TakeFrame());
      }
      size_t n = std::min(len, kZstdFrameSize - filling_->in_size);
      std::memcpy(filling_->in.get() + filling_->in_size, p, n);
      KILN_RETURN_IF_ERROR(Added(n));
      p += n;
      len -= n;
    }
    return absl::OkStatus();
  }
  using ByteSink::Write;

  // The tar writer reads file data straight into the frame being filled (no copy).
  absl::StatusOr<Lent> Lend() override {
    KILN_RETURN_IF_ERROR(failed_);
    if (finished_) return absl::FailedPreconditionError("layer encoder: write after Finish");
    if (lent_) return absl::FailedPreconditionError("layer encoder: a buffer is already lent");
    if (filling_ == nullptr) {
      KILN_ASSIGN_OR_RETURN(filling_, TakeFrame());
    }
    lent_ = true;
    return Lent{filling_->in.get() + filling_->in_size, kLendSize};
  }

  absl::Status WriteLent(char* data, size_t used) override {
    if (!lent_ || data != filling_->in.get() + filling_->in_size || used > kLendSize) {
      return absl::FailedPreconditionError("layer encoder: WriteLent of a buffer it did not lend");
    }
    lent_ = false;
    KILN_RETURN_IF_ERROR(failed_);
    return Added(used);
  }

  absl::StatusOr<LayerDescriptor> Finish() override {
    KILN_RETURN_IF_ERROR(failed_);
    if (finished_) return absl::FailedPreconditionError("layer encoder: Finish called twice");
    if (lent_) return absl::FailedPreconditionError("layer encoder: Finish while a buffer is lent");
    finished_ = true;
    // An empty layer is still one (empty) frame.
    if ((filling_ != nullptr && filling_->in_size > 0) || frames_ == 0) {
      if (filling_ == nullptr) {
        KILN_ASSIGN_OR_RETURN(filling_, TakeFrame());
      }
      KILN_RETURN_IF_ERROR(Submit());
    }
    KILN_RETURN_IF_ERROR(Pump(/*final=*/true));
    StopWorkers(/*drop_pending=*/false);
    LayerDescriptor d;
    d.diff_id = tar_hash_.Finish();
    d.uncompressed_size = tar_size_;
    d.digest = blob_hash_.Finish();
    d.size = blob_size_;
    d.media_type = std::string(MediaTypeFor(Compression::kZstd));
    return d;
  }

 private:
  // `n` bytes were appended to filling_ at in_size: hash them (diffID) and submit the frame
  // once full; bytes past the frame's end (a lent chunk that crossed it) start the next one.
  absl::Status Added(size_t n) {
    char* p = filling_->in.get() + filling_->in_size;
    tar_hash_.Update(p, n);
    tar_size_ += static_cast<int64_t>(n);
    filling_->in_size += n;
    if (filling_->in_size < kZstdFrameSize) return absl::OkStatus();
    size_t excess = filling_->in_size - kZstdFrameSize;
    filling_->in_size = kZstdFrameSize;
    std::unique_ptr<Frame> next;
    if (excess > 0) {
      KILN_ASSIGN_OR_RETURN(next, TakeFrame());
      std::memcpy(next->in.get(), filling_->in.get() + kZstdFrameSize, excess);
      next->in_size = excess;
    }
    KILN_RETURN_IF_ERROR(Submit());
    filling_ = std::move(next);
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Frame>> TakeFrame() {
    if (spare_.empty()) {
      auto f = std::make_unique<Frame>();
      KILN_ASSIGN_OR_RETURN(f->in, MapPages(Frame::kInCapacity));
      KILN_ASSIGN_OR_RETURN(f->out, MapPages(Frame::OutCapacity()));
      return f;
    }
    std::unique_ptr<Frame> f = std::move(spare_.back());
    spare_.pop_back();
    f->in_size = f->out_size = 0;
    f->error.clear();
    return f;
  }

  // Queues filling_ for compression, then keeps the pipeline moving (Pump).
  absl::Status Submit() {
    Frame* f = filling_.get();
    in_flight_.push_back(std::move(filling_));
    ++frames_;
    {
      absl::MutexLock l(&mu_);
      f->done = false;
      pending_.push_back(f);
    }
    return Pump(/*final=*/false);
  }

  // Caller: writes out every finished frame at the head of the line; compresses the oldest
  // waiting frame itself while kStealAt or more wait (or, when `final`, while any waits); and
  // blocks for the head frame while too many are in flight (or, when `final`, until none is).
  absl::Status Pump(bool final) {
    for (;;) {
      KILN_RETURN_IF_ERROR(WriteFinished());
      Frame* mine = nullptr;
      {
        absl::MutexLock l(&mu_);
        if (pending_.size() >= (final ? 1 : kStealAt)) {
          mine = pending_.front();
          pending_.pop_front();
        }
      }
      if (mine != nullptr) {
        mine->Compress(caller_cctx_.get());
        absl::MutexLock l(&mu_);
        mine->done = true;
        continue;
      }
      if (in_flight_.empty() || (!final && in_flight_.size() < max_in_flight_)) {
        return absl::OkStatus();
      }
      absl::MutexLock l(&mu_);
      mu_.Await(absl::Condition(&in_flight_.front()->done));
    }
  }

  absl::Status Fail(absl::Status s) {
    if (failed_.ok()) failed_ = s;
    return s;
  }

  // Caller: hashes and writes the finished frames at the front of in_flight_, in order.
  absl::Status WriteFinished() {
    while (!in_flight_.empty()) {
      Frame* f = in_flight_.front().get();
      {
        absl::MutexLock l(&mu_);
        if (!f->done) return absl::OkStatus();
      }
      if (!f->error.empty()) return Fail(absl::InternalError("zstd: compress: " + f->error));
      blob_hash_.Update(f->out.get(), f->out_size);
      blob_size_ += static_cast<int64_t>(f->out_size);
      if (absl::Status s = sink_->Write(f->out.get(), f->out_size); !s.ok()) return Fail(s);
      spare_.push_back(std::move(in_flight_.front()));
      in_flight_.pop_front();
    }
    return absl::OkStatus();
  }

  void WorkerLoop(ZSTD_CCtx* cctx) {
    for (;;) {
      Frame* f = nullptr;
      {
        absl::MutexLock l(&mu_);
        mu_.Await(absl::Condition(
            +[](ZstdFrameEncoder* e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e->mu_) {
              return !e->pending_.empty() || e->stopping_;
            },
            this));
        if (pending_.empty()) return;  // stopping, nothing left
        f = pending_.front();
        pending_.pop_front();
      }
      f->Compress(cctx);
      absl::MutexLock l(&mu_);
      f->done = true;
    }
  }

  void StopWorkers(bool drop_pending) {
    {
      absl::MutexLock l(&mu_);
      stopping_ = true;
      if (drop_pending) pending_.clear();
    }
    for (std::thread& t : workers_) {
      if (t.joinable()) t.join();
    }
  }

  ByteSink* sink_;
  Cctx caller_cctx_;
  std::vector<Cctx> worker_cctxs_;
  const size_t max_in_flight_;

  // Caller-only.
  std::unique_ptr<Frame> filling_;
  std::deque<std::unique_ptr<Frame>> in_flight_;  // submitted, not yet written; in order
  std::vector<std::unique_ptr<Frame>> spare_;
  base::Sha256 tar_hash_;
  base::Sha256 blob_hash_;
  int64_t tar_size_ = 0;
  int64_t blob_size_ = 0;
  int64_t frames_ = 0;
  bool lent_ = false;
  bool finished_ = false;
  absl::Status failed_;  // first compression or sink error: the blob is lost, every call fails

  absl::Mutex mu_;
  std::deque<Frame*> pending_ ABSL_GUARDED_BY(mu_);  // waiting for a thread; owned by in_flight_
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;  // declared last: started once everything above exists
};

}  // namespace

absl::StatusOr<std::unique_ptr<LayerEncoder>> NewZstdFrameEncoder(ByteSink* sink, int level,
                                                                  int threads) {
  KILN_ASSIGN_OR_RETURN(Cctx caller, NewCctx(level));
  std::vector<Cctx> workers;
  for (int i = 0; i < std::max(threads - 1, 1); ++i) {
    KILN_ASSIGN_OR_RETURN(Cctx c, NewCctx(level));
    workers.push_back(std::move(c));
  }
  return std::unique_ptr<LayerEncoder>(
      new ZstdFrameEncoder(sink, std::move(caller), std::move(workers)));
}

}  // namespace kiln::snapshotter::internal
