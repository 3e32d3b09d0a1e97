// kilnctl image pull|push: through kilnd's ImagePull/ImagePush calls. The credentials for the
// one registry involved are read here, on the client side (Docker's config.json, Podman's
// auth.json, credential helpers), and sent with that call only.
#include <cstdio>
#include <memory>
#include <string>

#include "base/status.h"
#include "engine/oci/reference.h"
#include "engine/registry/credentials.h"
#include "tools/kilnctl/client.h"
#include "tools/kilnctl/command.h"

namespace kiln::tools {
namespace {

struct TransferFlags {
  std::string ref;
  std::string dest;
  std::string platform;
  std::string compression;
  bool quiet = false;
};

// The credentials for the registry of `ref`, if the user has any.
std::vector<engine::RegistryCredential> CredentialsFor(const std::string& ref) {
  absl::StatusOr<engine::oci::Reference> parsed = engine::oci::NormalizeReference(ref);
  ExitIfError(parsed.status());
  absl::StatusOr<engine::registry::AuthConfig> auth = engine::registry::LookupCredentials(
      engine::registry::CredentialFiles::FromEnvironment(), parsed->domain, parsed->path);
  ExitIfError(auth.status());
  if (auth->empty()) return {};
  return {{parsed->domain, auth->username, auth->password, auth->identity_token}};
}

std::unique_ptr<DaemonClient> Connect(const std::string& addr) {
  absl::StatusOr<std::unique_ptr<DaemonClient>> client =
      DaemonClient::Connect(ClientOptions{AddrOr(addr)});
  ExitIfError(client.status());
  return std::move(*client);
}

void RunPull(const TransferFlags& flags, const std::string& addr) {
  engine::ImagePullRequest request{flags.ref, flags.platform, CredentialsFor(flags.ref)};
  std::unique_ptr<DaemonClient> client = Connect(addr);
  absl::StatusOr<engine::ImagePullResult> result = client->ImagePull(request);
  ExitIfError(result.status());
  if (flags.quiet) {
    std::printf("%s\n", result->manifest_digest.str().c_str());
    return;
  }
  std::printf("pulled %s (%s, %d new blobs)\n", result->ref.c_str(),
              result->manifest_digest.str().c_str(), result->blobs_fetched);
}

void RunPush(const TransferFlags& flags, const std::string& addr) {
  const std::string& target = flags.dest.empty() ? flags.ref : flags.dest;
  engine::ImagePushRequest request{flags.ref, flags.dest, flags.compression,
                                   CredentialsFor(target)};
  std::unique_ptr<DaemonClient> client = Connect(addr);
  absl::StatusOr<engine::ImagePushResult> result = client->ImagePush(request);
  ExitIfError(result.status());
  if (flags.quiet) {
    std::printf("%s\n", result->manifest_digest.str().c_str());
    return;
  }
  std::printf("pushed %s (%s): %d blobs uploaded (%lld bytes), %d mounted, %d already there\n",
              result->dest.c_str(), result->manifest_digest.str().c_str(), result->blobs_uploaded,
              static_cast<long long>(result->bytes_uploaded), result->blobs_mounted,
              result->blobs_present);
}

// The image group's --addr (image_cmd.cc registers it).
std::string GroupAddr(CLI::App* image) {
  CLI::Option* opt = image->get_option_no_throw("--addr");
  return opt == nullptr || opt->empty() ? std::string() : opt->as<std::string>();
}

CommandRegistrar registrar(41, [](CLI::App& root) {
  CLI::App* image = SubcommandOf(root, "image", "Manage images in kilnd's image store");

  auto pull_flags = std::make_shared<TransferFlags>();
  CLI::App* pull = image->add_subcommand("pull", "Pull an image from a registry into the store");
  pull->add_option("REF", pull_flags->ref, "Image reference (e.g. busybox:1.35, HOST/REPO:TAG)")
      ->required();
  pull->add_option("--platform", pull_flags->platform, "os/arch[/variant]; default linux/amd64");
  pull->add_flag("-q,--quiet", pull_flags->quiet, "Print the manifest digest only");
  pull->fallthrough();
  pull->callback([pull_flags, image] { RunPull(*pull_flags, GroupAddr(image)); });

  auto push_flags = std::make_shared<TransferFlags>();
  CLI::App* push = image->add_subcommand("push", "Push a stored image to a registry");
  push->add_option("REF", push_flags->ref, "Local image reference")->required();
  push->add_option("DEST", push_flags->dest, "Destination reference (default: REF)");
  push->add_option("--compression", push_flags->compression,
                   "Compression for uncompressed layers: gzip (default) or zstd");
  push->add_flag("-q,--quiet", push_flags->quiet, "Print the manifest digest only");
  push->fallthrough();
  push->callback([push_flags, image] { RunPush(*push_flags, GroupAddr(image)); });
});

}  // namespace
}  // namespace kiln::tools
