#include "tools/kilnctl/build_credentials.h"

#include <unistd.h>

#include <set>
#include <string>
#include <variant>

#include "base/status.h"
#include "engine/oci/reference.h"
#include "engine/registry/credentials.h"

namespace kiln::tools {
namespace {

bool AnyFile(const engine::registry::CredentialFiles& files) {
  for (const std::string* path : {&files.auth_file, &files.docker_config, &files.podman_auth}) {
    if (!path->empty() && access(path->c_str(), F_OK) == 0) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::vector<engine::RegistryCredential>> BuildCredentials(
    const engine::BuildRequest& request, DaemonClient& client) {
  engine::registry::CredentialFiles files = engine::registry::CredentialFiles::FromEnvironment();
  std::vector<engine::RegistryCredential> out;
  if (!AnyFile(files)) return out;

  engine::BuildRequest scan;
  scan.context_dir = request.context_dir;
  scan.dockerfile_dir = request.dockerfile_dir;
  scan.dockerfile_name = request.dockerfile_name;
  scan.target = request.target;
  scan.build_args = request.build_args;
  scan.platform = request.platform;
  scan.pull = request.pull;
  scan.registries_only = true;
  absl::StatusOr<engine::BuildResult> found = client.Solve(scan, [](const engine::BuildEvent&) {});
  if (!found.ok()) return found.status();

  // Repositories as "domain/path": credential files may hold namespace keys.
  std::set<std::string> repos(found->repositories.begin(), found->repositories.end());
  for (const engine::Output& output : request.exports) {
    const auto* image = std::get_if<engine::ImageOutput>(&output);
    if (image == nullptr || !image->push) continue;
    for (const std::string& name : image->names) {
      absl::StatusOr<engine::oci::Reference> parsed = engine::oci::NormalizeReference(name);
      if (parsed.ok()) repos.insert(parsed->domain + "/" + parsed->path);
    }
  }
  std::set<std::string> done;  // one credential per registry: the first repository's
  for (const std::string& repo : repos) {
    size_t slash = repo.find('/');
    std::string domain = repo.substr(0, slash);
    if (done.count(domain) != 0) continue;
    absl::StatusOr<engine::registry::AuthConfig> auth = engine::registry::LookupCredentials(
        files, domain, slash == std::string::npos ? "" : repo.substr(slash + 1));
    if (!auth.ok()) return auth.status();
    if (auth->empty()) continue;
    done.insert(domain);
    out.push_back({domain, auth->username, auth->password, auth->identity_token});
  }
  return out;
}

}  // namespace kiln::tools
