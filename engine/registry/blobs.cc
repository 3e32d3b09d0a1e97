// Blob HEAD/GET/upload/mount (distribution.h).
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "engine/registry/distribution.h"
#include "engine/registry/errors.h"

namespace kiln::engine::registry {
namespace {

constexpr int kMaxFetchAttempts = 5;

std::string BlobWhat(const RegistryClient& c, const std::string& repo, const base::Digest& d) {
  return absl::StrCat("'", c.domain(), "/", repo, "@", d.str(), "'");
}

// One download of `desc` into `*writer`, from the writer's offset. A 200 to a ranged request
// replaces the writer with a fresh one (the registry sends the whole blob again).
absl::Status FetchOnce(RegistryClient& client, const std::string& repo, const oci::Descriptor& desc,
                       cache::ContentStore& store, std::unique_ptr<cache::ContentWriter>* writer,
                       const std::string& what) {
  int64_t offset = (*writer)->Offset();
  HttpRequest req;
  req.url = absl::StrCat("/v2/", repo, "/blobs/", desc.digest.str());
  if (offset > 0) req.headers.emplace_back("Range", absl::StrCat("bytes=", offset, "-"));
  req.on_response = [&](const HttpResponse& resp) -> absl::Status {
    if (offset == 0) return absl::OkStatus();
    if (resp.status == 206 &&
        resp.Header("content-range").starts_with(absl::StrCat("bytes ", offset, "-"))) {
      return absl::OkStatus();
    }
    if (resp.status == 200) {  // range ignored: start over
      KILN_ASSIGN_OR_RETURN(*writer, store.Writer(what));
      return absl::OkStatus();
    }
    return absl::DataLossError(absl::StrCat("fetch blob ", what, ": asked for bytes ", offset,
                                            "- and got HTTP ", resp.status, " with Content-Range '",
                                            resp.Header("content-range"), "'"));
  };
  req.sink = [&](std::string_view data) -> absl::Status {
    if ((*writer)->Offset() + static_cast<int64_t>(data.size()) > desc.size) {
      return absl::DataLossError(absl::StrCat("fetch blob ", what,
                                              ": the registry sent more than the descriptor's ",
                                              desc.size, " bytes"));
    }
    return (*writer)->Write(data.data(), data.size());
  };
  KILN_ASSIGN_OR_RETURN(HttpResponse resp, client.Send(req, {PullScope(repo)}));
  if (resp.status != 200 && resp.status != 206) {
    return HttpError(resp, absl::StrCat("fetch blob ", what));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status FetchBlob(RegistryClient& client, const std::string& repo, const oci::Descriptor& desc,
                       cache::ContentStore& store, std::map<std::string, std::string> labels) {
  if (store.Has(desc.digest)) {
    return labels.empty() ? absl::OkStatus() : store.SetLabels(desc.digest, std::move(labels));
  }
  std::string what = BlobWhat(client, repo, desc.digest);
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<cache::ContentWriter> writer, store.Writer(what));
  absl::Status last;
  for (int attempt = 0; attempt < kMaxFetchAttempts; ++attempt) {
    last = FetchOnce(client, repo, desc, store, &writer, what);
    // Only a broken transfer is worth resuming; an answer from the registry is final.
    if (last.ok() || !absl::IsUnavailable(last) || writer->Offset() >= desc.size) break;
  }
  if (!last.ok()) return last;
  if (writer->Offset() != desc.size) {
    return absl::DataLossError(absl::StrCat("fetch blob ", what, ": got ", writer->Offset(),
                                            " bytes, the descriptor says ", desc.size));
  }
  absl::StatusOr<cache::BlobInfo> info = writer->Commit(desc.digest, std::move(labels));
  if (!info.ok()) return base::Annotate(info.status(), absl::StrCat("fetch blob ", what));
  return absl::OkStatus();
}

absl::StatusOr<bool> BlobExists(RegistryClient& client, const std::string& repo,
                                const base::Digest& digest) {
  HttpRequest req;
  req.method = "HEAD";
  req.url = absl::StrCat("/v2/", repo, "/blobs/", digest.str());
  KILN_ASSIGN_OR_RETURN(HttpResponse resp, client.Send(req, {PushScope(repo)}));
  if (resp.status == 200) return true;
  if (resp.status == 404) return false;
  return HttpError(resp, absl::StrCat("check blob ", BlobWhat(client, repo, digest)));
}

namespace {

std::string WithDigest(const std::string& location, const base::Digest& d) {
  return absl::StrCat(location, location.find('?') == std::string::npos ? "?" : "&",
                      "digest=", d.str());
}

absl::StatusOr<std::string> ReadRange(int fd, int64_t offset, int64_t len,
                                      const std::string& what) {
  std::string buf(static_cast<size_t>(len), '\0');
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::pread(fd, buf.data() + done, buf.size() - done,
                        static_cast<off_t>(offset) + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::ErrnoError(absl::StrCat("read blob ", what));
    if (n == 0) return absl::DataLossError(absl::StrCat("read blob ", what, ": short file"));
    done += static_cast<size_t>(n);
  }
  return buf;
}

// PATCHes the blob in chunks; returns the Location for the closing PUT.
absl::StatusOr<std::string> PatchChunks(RegistryClient& client, const std::string& repo,
                                        const oci::Descriptor& desc, int fd, std::string location,
                                        int64_t chunk_size, const std::string& what) {
  for (int64_t offset = 0; offset < desc.size; offset += chunk_size) {
    int64_t len = std::min(chunk_size, desc.size - offset);
    HttpRequest patch;
    patch.method = "PATCH";
    patch.url = location;
    patch.headers.emplace_back("Content-Range", absl::StrCat(offset, "-", offset + len - 1));
    KILN_ASSIGN_OR_RETURN(patch.body, ReadRange(fd, offset, len, what));
    KILN_ASSIGN_OR_RETURN(HttpResponse resp, client.Send(patch, {PushScope(repo)}));
    if (resp.status != 202) return HttpError(resp, absl::StrCat("upload blob ", what));
    if (!resp.Header("location").empty()) location = client.Absolute(resp.Header("location"));
  }
  return location;
}

}  // namespace

absl::StatusOr<UploadStats> UploadBlob(RegistryClient& client, const std::string& repo,
                                       const oci::Descriptor& desc, cache::ContentStore& store,
                                       const std::string& mount_from, int64_t chunk_size) {
  std::string what = BlobWhat(client, repo, desc.digest);
  std::vector<std::string> scopes = {PushScope(repo)};
  HttpRequest post;
  post.method = "POST";
  post.url = absl::StrCat("/v2/", repo, "/blobs/uploads/");
  if (!mount_from.empty() && mount_from != repo) {
    absl::StrAppend(&post.url, "?mount=", desc.digest.str(), "&from=", mount_from);
    scopes.push_back(PullScope(mount_from));
  }
  KILN_ASSIGN_OR_RETURN(HttpResponse started, client.Send(post, scopes));
  UploadStats stats;
  if (started.status == 201) {
    stats.mounted = true;
    return stats;
  }
  if (started.status != 202 || started.Header("location").empty()) {
    return HttpError(started, absl::StrCat("start upload of blob ", what));
  }
  std::string location = client.Absolute(started.Header("location"));
  KILN_ASSIGN_OR_RETURN(int raw_fd, store.OpenRead(desc.digest));
  base::UniqueFd fd(raw_fd);
  HttpRequest put;
  put.method = "PUT";
  if (desc.size <= chunk_size) {
    KILN_ASSIGN_OR_RETURN(put.body, ReadRange(fd.get(), 0, desc.size, what));
  } else {
    KILN_ASSIGN_OR_RETURN(location,
                          PatchChunks(client, repo, desc, fd.get(), location, chunk_size, what));
  }
  put.url = WithDigest(location, desc.digest);
  KILN_ASSIGN_OR_RETURN(HttpResponse done, client.Send(put, {PushScope(repo)}));
  if (done.status != 201) return HttpError(done, absl::StrCat("upload blob ", what));
  stats.bytes_sent = desc.size;
  return stats;
}

}  // namespace kiln::engine::registry
