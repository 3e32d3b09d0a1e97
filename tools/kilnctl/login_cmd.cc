// kilnctl login|logout: registry credentials in Docker's config.json (or its credential
// helper), read back by kilnctl for pulls, pushes and builds. Runs entirely on the client.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/strip.h"
#include "engine/registry/credentials.h"
#include "tools/kilnctl/command.h"

namespace kiln::tools {
namespace {

struct LoginFlags {
  std::string registry;
  std::string username;
  std::string password;
  bool password_stdin = false;
};

// "docker.io", "index.docker.io", "https://host:5000/" -> the reference domain.
std::string Domain(const std::string& registry) {
  std::string r = registry.empty() ? "docker.io" : registry;
  for (std::string_view scheme : {"https://", "http://"}) {
    if (r.starts_with(scheme)) r = r.substr(scheme.size());
  }
  r = r.substr(0, r.find('/'));
  if (r == "index.docker.io" || r == "registry-1.docker.io") r = "docker.io";
  return r;
}

void RunLogin(LoginFlags flags) {
  if (flags.username.empty()) {
    ExitIfError(absl::InvalidArgumentError("login: -u USER is required"));
  }
  if (flags.password_stdin) {
    if (!flags.password.empty()) {
      ExitIfError(absl::InvalidArgumentError("login: --password and --password-stdin conflict"));
    }
    std::getline(std::cin, flags.password);
    flags.password = std::string(absl::StripTrailingAsciiWhitespace(flags.password));
  }
  if (flags.password.empty()) {
    ExitIfError(absl::InvalidArgumentError(
        "login: no password (use --password-stdin, e.g. `echo $PW | kilnctl login -u USER "
        "--password-stdin REGISTRY`)"));
  }
  std::string domain = Domain(flags.registry);
  ExitIfError(engine::registry::StoreCredentials(
      engine::registry::CredentialFiles::FromEnvironment(), domain,
      {.username = flags.username, .password = flags.password}));
  std::printf("Login Succeeded (%s, credentials stored)\n", domain.c_str());
}

void RunLogout(const LoginFlags& flags) {
  std::string domain = Domain(flags.registry);
  ExitIfError(engine::registry::EraseCredentials(
      engine::registry::CredentialFiles::FromEnvironment(), domain));
  std::printf("Removed login credentials for %s\n", domain.c_str());
}

CommandRegistrar registrar(45, [](CLI::App& root) {
  auto login_flags = std::make_shared<LoginFlags>();
  CLI::App* login = root.add_subcommand(
      "login", "Store registry credentials in Docker's config.json (or its credential helper)");
  login->add_option("REGISTRY", login_flags->registry, "Registry host (default docker.io)");
  login->add_option("-u,--username", login_flags->username, "User name");
  login->add_option("-p,--password", login_flags->password,
                    "Password (prefer --password-stdin: argv is visible to other users)");
  login->add_flag("--password-stdin", login_flags->password_stdin, "Read the password from stdin");
  login->callback([login_flags] { RunLogin(*login_flags); });

  auto logout_flags = std::make_shared<LoginFlags>();
  CLI::App* logout = root.add_subcommand("logout", "Remove stored registry credentials");
  logout->add_option("REGISTRY", logout_flags->registry, "Registry host (default docker.io)");
  logout->callback([logout_flags] { RunLogout(*logout_flags); });
});

}  // namespace
}  // namespace kiln::tools
