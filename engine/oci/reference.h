// Image references ("busybox", "golang:1.19", "ghcr.io/o/r@sha256:..."), parsed and normalized
// with Docker's rules (github.com/distribution/reference ParseNormalizedNamed + TagNameOnly):
// - a name without a registry part gets "docker.io/"; a registry part is the first component
//   when it contains '.' or ':', is "localhost", or has uppercase letters;
// - "index.docker.io" becomes "docker.io";
// - a single-component docker.io name gets "library/";
// - the repository path must be lowercase; a bare 64-hex string is rejected;
// - without tag or digest, the tag is "latest" (Normalize only; Parse keeps it empty).
#ifndef KILN_ENGINE_OCI_REFERENCE_H_
#define KILN_ENGINE_OCI_REFERENCE_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::engine::oci {

inline constexpr std::string_view kDefaultDomain = "docker.io";
inline constexpr std::string_view kDefaultTag = "latest";

struct Reference {
  std::string domain;  // "docker.io", "localhost:5000"
  std::string path;    // "library/busybox"
  std::string tag;     // may be empty
  std::string digest;  // "sha256:<hex>", may be empty

  // "docker.io/library/busybox".
  std::string Name() const { return domain + "/" + path; }
  // "docker.io/library/busybox:1.35", "...@sha256:..", or both.
  std::string String() const;
  // Docker's short form: "busybox:1.35", "user/repo:tag", "ghcr.io/o/r:tag".
  std::string Familiar() const;
  friend bool operator==(const Reference&, const Reference&) = default;
};

// Parses `text` into a fully qualified reference (domain and library/ filled in), keeping an
// absent tag empty. InvalidArgument "parse reference '<text>': <why>" on bad input (bad
// characters, uppercase repository, empty component, bad tag or digest, too long).
absl::StatusOr<Reference> ParseReference(std::string_view text);

// ParseReference, then the default tag "latest" when there is neither tag nor digest.
absl::StatusOr<Reference> NormalizeReference(std::string_view text);

}  // namespace kiln::engine::oci

#endif  // KILN_ENGINE_OCI_REFERENCE_H_
