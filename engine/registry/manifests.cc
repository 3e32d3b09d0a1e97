// Manifest GET/HEAD/PUT (distribution.h).
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "engine/registry/distribution.h"
#include "engine/registry/errors.h"

namespace kiln::engine::registry {
namespace {

using base::AsAbsl;

constexpr std::string_view kSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
constexpr std::string_view kSchema1Signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

// The media type without parameters ("; charset=utf-8").
std::string BareType(std::string_view content_type) {
  std::string_view t = content_type.substr(0, content_type.find(';'));
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(AsAbsl(t)));
}

bool IsSupported(std::string_view mt) {
  return oci::IsIndexMediaType(mt) || oci::IsManifestMediaType(mt);
}

std::string What(const RegistryClient& c, const std::string& repo, const std::string& ref) {
  std::string sep = ref.starts_with("sha256:") ? "@" : ":";
  return absl::StrCat("fetch manifest '", c.domain(), "/", repo, sep, ref, "'");
}

// The media type of a manifest response: Content-Type, else the body's mediaType; schema1 and
// unknown types are refused, and a body that declares another type than the header too.
absl::StatusOr<std::string> MediaTypeOf(const HttpResponse& resp, std::string_view what) {
  std::string mt = BareType(resp.Header("content-type"));
  std::string declared = oci::SniffMediaType(resp.body);
  if (mt == kSchema1 || mt == kSchema1Signed || declared == kSchema1 ||
      declared == kSchema1Signed) {
    return absl::FailedPreconditionError(
        absl::StrCat(AsAbsl(what), ": the registry only has a Docker schema 1 manifest (", mt,
                     "), which Kiln does not support; push the image again with a current client "
                     "(schema 2 or OCI)"));
  }
  if (!IsSupported(mt)) mt = declared;
  if (!IsSupported(mt)) {
    return absl::FailedPreconditionError(absl::StrCat(
        AsAbsl(what), ": unsupported manifest media type '", BareType(resp.Header("content-type")),
        "', expected an OCI or Docker schema 2 manifest or index"));
  }
  if (!declared.empty() && declared != mt) {
    return absl::DataLossError(absl::StrCat(AsAbsl(what), ": the body declares mediaType '",
                                            declared, "' but Content-Type says '", mt, "'"));
  }
  return mt;
}

absl::Status CheckDigest(const HttpResponse& resp, const std::string& reference,
                         const base::Digest& got, std::string_view what) {
  if (reference.starts_with("sha256:") && got.str() != reference) {
    return absl::DataLossError(absl::StrCat(AsAbsl(what), ": digest mismatch: asked for ",
                                            reference, ", the bytes received hash to ", got.str()));
  }
  std::string header = resp.Header("docker-content-digest");
  if (header.starts_with("sha256:") && header != got.str()) {
    return absl::DataLossError(absl::StrCat(AsAbsl(what),
                                            ": digest mismatch: Docker-Content-Digest is ", header,
                                            ", the bytes received hash to ", got.str()));
  }
  return absl::OkStatus();
}

}  // namespace

std::string ManifestAccept() {
  return absl::StrCat(AsAbsl(oci::kMediaTypeOciIndex), ", ", AsAbsl(oci::kMediaTypeOciManifest),
                      ", ", AsAbsl(oci::kMediaTypeDockerManifestList), ", ",
                      AsAbsl(oci::kMediaTypeDockerManifest));
}

absl::StatusOr<FetchedManifest> GetManifest(RegistryClient& client, const std::string& repo,
                                            const std::string& reference) {
  std::string what = What(client, repo, reference);
  HttpRequest req;
  req.url = absl::StrCat("/v2/", repo, "/manifests/", reference);
  req.headers.emplace_back("Accept", ManifestAccept());
  req.max_body = kMaxManifestBytes;
  absl::StatusOr<HttpResponse> resp = client.Send(req, {PullScope(repo)});
  if (absl::IsResourceExhausted(resp.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": the manifest is larger than 4 MiB, the most Kiln accepts (OCI's limit)"));
  }
  if (!resp.ok()) return base::Annotate(resp.status(), what);
  if (resp->status != 200) return HttpError(*resp, what);
  KILN_ASSIGN_OR_RETURN(std::string mt, MediaTypeOf(*resp, what));
  FetchedManifest out;
  out.descriptor.media_type = mt;
  out.descriptor.digest = base::Digest::Of(resp->body);
  out.descriptor.size = static_cast<int64_t>(resp->body.size());
  KILN_RETURN_IF_ERROR(CheckDigest(*resp, reference, out.descriptor.digest, what));
  out.bytes = std::move(resp->body);
  return out;
}

absl::StatusOr<oci::Descriptor> HeadManifest(RegistryClient& client, const std::string& repo,
                                             const std::string& reference) {
  std::string what = What(client, repo, reference);
  HttpRequest req;
  req.method = "HEAD";
  req.url = absl::StrCat("/v2/", repo, "/manifests/", reference);
  req.headers.emplace_back("Accept", ManifestAccept());
  KILN_ASSIGN_OR_RETURN(HttpResponse resp, client.Send(req, {PullScope(repo)}));
  std::string digest = resp.Header("docker-content-digest");
  std::string mt = BareType(resp.Header("content-type"));
  int64_t size = 0;
  if (resp.status == 200 && digest.starts_with("sha256:") && IsSupported(mt) &&
      absl::SimpleAtoi(resp.Header("content-length"), &size)) {
    oci::Descriptor d;
    KILN_ASSIGN_OR_RETURN(d.digest, base::Digest::Parse(digest));
    d.media_type = mt;
    d.size = size;
    return d;
  }
  if (resp.status != 200 && resp.status != 405) return HttpError(resp, what);
  KILN_ASSIGN_OR_RETURN(FetchedManifest m, GetManifest(client, repo, reference));
  return m.descriptor;
}

absl::Status PutManifest(RegistryClient& client, const std::string& repo,
                         const std::string& reference, std::string_view media_type,
                         std::string_view bytes) {
  std::string what =
      absl::StrCat("push manifest '", client.domain(), "/", repo, ":", reference, "'");
  HttpRequest req;
  req.method = "PUT";
  req.url = absl::StrCat("/v2/", repo, "/manifests/", reference);
  req.headers.emplace_back("Content-Type", std::string(media_type));
  req.body = std::string(bytes);
  KILN_ASSIGN_OR_RETURN(HttpResponse resp, client.Send(req, {PushScope(repo)}));
  if (resp.status != 201 && resp.status != 200) return HttpError(resp, what);
  std::string want = base::Digest::Of(bytes).str();
  std::string got = resp.Header("docker-content-digest");
  if (!got.empty() && got != want) {
    return absl::DataLossError(
        absl::StrCat(what, ": the registry stored digest ", got, ", Kiln sent ", want));
  }
  return absl::OkStatus();
}

}  // namespace kiln::engine::registry
