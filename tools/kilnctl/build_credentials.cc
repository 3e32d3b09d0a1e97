#include "tools/kilnctl/build_credentials.h"

#include <fstream>
#include <set>
#include <sstream>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "engine/oci/reference.h"
#include "engine/registry/credentials.h"

namespace kiln::tools {

std::vector<std::string> FromReferences(std::string_view dockerfile) {
  std::vector<std::string> refs;
  std::set<std::string> stages;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(dockerfile.data(), dockerfile.size()), '\n')) {
    std::vector<absl::string_view> words =
        absl::StrSplit(absl::StripAsciiWhitespace(line), absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (words.empty() || absl::AsciiStrToLower(words[0]) != "from") continue;
    size_t i = 1;
    while (i < words.size() && absl::StartsWith(words[i], "--")) ++i;
    if (i >= words.size()) continue;
    std::string image(words[i]);
    if (i + 2 < words.size() && absl::AsciiStrToLower(words[i + 1]) == "as") {
      stages.insert(absl::AsciiStrToLower(words[i + 2]));
    }
    if (image.find('$') != std::string::npos || stages.count(image) != 0 || image == "scratch") {
      continue;
    }
    refs.push_back(std::move(image));
  }
  return refs;
}

absl::StatusOr<std::vector<engine::RegistryCredential>> BuildCredentials(
    const engine::BuildRequest& request) {
  std::string dir = request.dockerfile_dir.empty() ? request.context_dir : request.dockerfile_dir;
  std::string name = request.dockerfile_name.empty() ? "Dockerfile" : request.dockerfile_name;
  std::ifstream in(name[0] == '/' ? name : dir + "/" + name);
  if (!in) return std::vector<engine::RegistryCredential>();
  std::stringstream text;
  text << in.rdbuf();
  std::set<std::string> domains;
  std::vector<engine::RegistryCredential> out;
  engine::registry::CredentialFiles files = engine::registry::CredentialFiles::FromEnvironment();
  std::vector<std::string> refs = FromReferences(text.str());
  for (const engine::Output& out : request.exports) {  // pushed outputs
    const auto* image = std::get_if<engine::ImageOutput>(&out);
    if (image == nullptr || !image->push) continue;
    refs.insert(refs.end(), image->names.begin(), image->names.end());
  }
  for (const std::string& ref : refs) {
    absl::StatusOr<engine::oci::Reference> parsed = engine::oci::NormalizeReference(ref);
    if (!parsed.ok() || !domains.insert(parsed->domain).second) continue;
    absl::StatusOr<engine::registry::AuthConfig> auth =
        engine::registry::LookupCredentials(files, parsed->domain, parsed->path);
    if (!auth.ok()) return auth.status();
    if (auth->empty()) continue;
    out.push_back({parsed->domain, auth->username, auth->password, auth->identity_token});
  }
  return out;
}

}  // namespace kiln::tools
