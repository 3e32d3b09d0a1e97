#include "engine/oci/reference.h"

#include <cctype>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"

namespace kiln::engine::oci {

using base::AsAbsl;

namespace internal {
namespace {

constexpr size_t kMaxNameLength = 255;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// path-component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool ValidPathComponent(std::string_view c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) return false;
  size_t i = 0;
  while (i < c.size()) {
    if (IsLowerAlnum(c[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < c.size() && !IsLowerAlnum(c[j])) ++j;
    std::string_view sep = c.substr(i, j - i);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
    i = j;
  }
  return true;
}

// domain: domain-component ('.' domain-component)* (':' [0-9]+)?, with
// domain-component: [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]. Also "[ipv6]" hosts.
bool ValidDomain(std::string_view d) {
  std::string_view host = d;
  size_t colon = d.rfind(':');
  if (colon != std::string_view::npos && d.find(']', colon) == std::string_view::npos) {
    std::string_view port = d.substr(colon + 1);
    if (port.empty()) return false;
    for (char c : port) {
      if (c < '0' || c > '9') return false;
    }
    host = d.substr(0, colon);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    for (char c : host.substr(1, host.size() - 2)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':') return false;
    }
    return true;
  }
  for (absl::string_view comp : absl::StrSplit(AsAbsl(host), '.')) {
    if (comp.empty() || !IsAlnum(comp.front()) || !IsAlnum(comp.back())) return false;
    for (char c : comp) {
      if (!IsAlnum(c) && c != '-') return false;
    }
  }
  return true;
}

// tag: [\w][\w.-]{0,127}
bool ValidTag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char c) { return IsAlnum(c) || c == '_'; };
  if (!word(t.front())) return false;
  for (char c : t) {
    if (!word(c) && c != '.' && c != '-') return false;
  }
  return true;
}

// digest: algorithm ':' hex; Kiln stores sha256 only.
bool ValidDigest(std::string_view d) {
  if (!d.starts_with("sha256:") || d.size() != 7 + 64) return false;
  for (char c : d.substr(7)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Docker's splitDockerDomain: the first component is a registry when it has '.' or ':', is
// "localhost", or is not all lowercase; index.docker.io (and Docker Hub's API host,
// registry-1.docker.io) is docker.io; official images get "library/".
void SplitDomain(std::string_view name, Reference* ref) {
  size_t first = name.find('/');
  std::string_view head = first == std::string_view::npos ? "" : name.substr(0, first);
  bool has_domain = first != std::string_view::npos &&
                    (head.find_first_of(".:") != std::string_view::npos || head == "localhost" ||
                     absl::AsciiStrToLower(AsAbsl(head)) != AsAbsl(head));
  if (has_domain) {
    ref->domain = std::string(head);
    ref->path = std::string(name.substr(first + 1));
  } else {
    ref->domain = std::string(kDefaultDomain);
    ref->path = std::string(name);
  }
  if (ref->domain == "index.docker.io" || ref->domain == "registry-1.docker.io") {
    ref->domain = std::string(kDefaultDomain);
  }
  if (ref->domain == kDefaultDomain && ref->path.find('/') == std::string::npos) {
    ref->path = "library/" + ref->path;
  }
}

}  // namespace
}  // namespace internal

std::string Reference::String() const {
  std::string s = Name();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::string Reference::Familiar() const {
  std::string name = Name();
  if (domain == kDefaultDomain) {
    name = path;
    if (name.starts_with("library/") && name.find('/', 8) == std::string::npos) {
      name = name.substr(8);
    }
  }
  if (!tag.empty()) name += ":" + tag;
  if (!digest.empty()) name += "@" + digest;
  return name;
}

absl::StatusOr<Reference> ParseReference(std::string_view text) {
  auto fail = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("parse reference '", AsAbsl(text), "': ", AsAbsl(why)));
  };
  if (text.empty()) return fail("empty reference");
  if (internal::IsHex64(text)) {
    return fail("cannot specify 64-byte hexadecimal strings as a repository name");
  }
  Reference ref;
  std::string_view rest = text;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!internal::ValidDigest(ref.digest)) {
      return fail("invalid digest, expected sha256:<64 lowercase hex digits>");
    }
  }
  // A tag follows the last ':' after the last '/' (a ':' before it is a registry port).
  size_t slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    ref.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!internal::ValidTag(ref.tag)) {
      return fail("invalid tag, expected [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
    }
  }
  if (rest.empty()) return fail("invalid reference format: empty repository name");
  internal::SplitDomain(rest, &ref);
  if (!internal::ValidDomain(ref.domain)) return fail("invalid registry host '" + ref.domain + "'");
  if (absl::AsciiStrToLower(ref.path) != ref.path) {
    return fail("invalid reference format: repository name (" + ref.path + ") must be lowercase");
  }
  for (absl::string_view comp : absl::StrSplit(ref.path, '/')) {
    if (!internal::ValidPathComponent(std::string_view(comp.data(), comp.size()))) {
      return fail("invalid reference format: repository path component '" + std::string(comp) +
                  "' must be lowercase letters and digits separated by '.', '_', '__' or '-'");
    }
  }
  if (ref.Name().size() > internal::kMaxNameLength) {
    return fail("repository name must not be more than 255 characters");
  }
  return ref;
}

absl::StatusOr<Reference> NormalizeReference(std::string_view text) {
  KILN_ASSIGN_OR_RETURN(Reference ref, ParseReference(text));
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = std::string(kDefaultTag);
  return ref;
}

}  // namespace kiln::engine::oci
