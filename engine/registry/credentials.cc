#include "engine/registry/credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "engine/registry/credential_helper.h"
#include "nlohmann/json.hpp"

namespace kiln::engine::registry {
namespace {

using base::AsAbsl;
using nlohmann::json;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

// The file's JSON object; an empty object when it does not exist.
absl::StatusOr<json> ReadJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT || errno == ENOTDIR) return json::object();
    return base::ErrnoError(absl::StrCat("read '", path, "'"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a JSON object, expected Docker's config.json format"));
  }
  return j;
}

// "https://index.docker.io/v1/" -> "docker.io"; "https://h:5000/" -> "h:5000";
// "quay.io/org/repo" stays.
std::string NormalizeKey(std::string_view key) {
  std::string k(key);
  for (std::string_view scheme : {"https://", "http://"}) {
    if (k.starts_with(scheme)) k = k.substr(scheme.size());
  }
  while (k.ends_with("/")) k.pop_back();
  if (k.ends_with("/v1") || k.ends_with("/v2")) k.resize(k.size() - 3);
  std::string host = k.substr(0, k.find('/'));
  std::string rest = k.substr(host.size());
  if (host == "index.docker.io" || host == "registry-1.docker.io") host = "docker.io";
  return host + rest;
}

std::string HelperFor(const json& config, std::string_view domain) {
  if (config.contains("credHelpers") && config["credHelpers"].is_object()) {
    for (const auto& [key, value] : config["credHelpers"].items()) {
      if (NormalizeKey(key) == domain && value.is_string()) return value.get<std::string>();
    }
  }
  if (config.contains("credsStore") && config["credsStore"].is_string()) {
    return config["credsStore"].get<std::string>();
  }
  return "";
}

absl::StatusOr<AuthConfig> FromEntry(const json& entry, const std::string& path) {
  AuthConfig auth;
  if (entry.contains("auth") && entry["auth"].is_string()) {
    std::string decoded;
    if (!absl::Base64Unescape(entry["auth"].get<std::string>(), &decoded) ||
        decoded.find(':') == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": an \"auth\" value is not base64 of user:password"));
    }
    size_t colon = decoded.find(':');
    auth.username = decoded.substr(0, colon);
    auth.password = decoded.substr(colon + 1);
  }
  if (entry.contains("identitytoken") && entry["identitytoken"].is_string()) {
    auth.identity_token = entry["identitytoken"].get<std::string>();
  }
  return auth;
}

absl::StatusOr<AuthConfig> FromHelper(const std::string& helper, std::string_view domain) {
  absl::StatusOr<std::string> out = internal::RunCredentialHelper(helper, "get", ConfigKey(domain));
  if (absl::IsNotFound(out.status())) return AuthConfig{};
  if (!out.ok()) return out.status();
  json j = json::parse(*out, nullptr, false);
  if (!j.is_object() || !j.contains("Secret") || !j["Secret"].is_string()) {
    return absl::UnavailableError(
        absl::StrCat("credential helper 'docker-credential-", helper, "': malformed reply"));
  }
  AuthConfig auth;
  std::string user = j.value("Username", "");
  if (user == "<token>") {
    auth.identity_token = j["Secret"].get<std::string>();
  } else {
    auth.username = user;
    auth.password = j["Secret"].get<std::string>();
  }
  return auth;
}

// Looks `domain` up in one file. Empty AuthConfig when the file has nothing for it.
absl::StatusOr<AuthConfig> LookupIn(const std::string& path, std::string_view domain,
                                    std::string_view repository) {
  if (path.empty()) return AuthConfig{};
  KILN_ASSIGN_OR_RETURN(json config, ReadJson(path));
  if (config.contains("credHelpers") && config["credHelpers"].is_object()) {
    for (const auto& [key, value] : config["credHelpers"].items()) {
      if (NormalizeKey(key) == domain && value.is_string()) {
        return FromHelper(value.get<std::string>(), domain);
      }
    }
  }
  if (config.contains("auths") && config["auths"].is_object()) {
    std::string full = absl::StrCat(AsAbsl(domain), "/", AsAbsl(repository));
    const json* best = nullptr;
    size_t best_len = 0;
    for (const auto& [key, value] : config["auths"].items()) {
      std::string k = NormalizeKey(key);
      bool match = k == domain || (!repository.empty() && (full == k || full.starts_with(k + "/")));
      if (match && value.is_object() && k.size() > best_len) {
        best = &value;
        best_len = k.size();
      }
    }
    if (best != nullptr) {
      KILN_ASSIGN_OR_RETURN(AuthConfig auth, FromEntry(*best, path));
      if (!auth.empty()) return auth;
    }
  }
  if (config.contains("credsStore") && config["credsStore"].is_string()) {
    return FromHelper(config["credsStore"].get<std::string>(), domain);
  }
  return AuthConfig{};
}

absl::Status WriteJsonAtomically(const std::string& path, const json& j) {
  std::string dir = path.substr(0, path.rfind('/'));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return base::ErrnoError(absl::StrCat("create '", dir, "'"));
  }
  std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  base::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd.get() < 0) return base::ErrnoError(absl::StrCat("create '", tmp, "'"));
  std::string text = j.dump(1, '\t') + "\n";
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      ::fsync(fd.get()) != 0) {
    absl::Status err = base::ErrnoError(absl::StrCat("write '", tmp, "'"));
    ::unlink(tmp.c_str());
    return err;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status err = base::ErrnoError(absl::StrCat("rename '", tmp, "'"));
    ::unlink(tmp.c_str());
    return err;
  }
  return absl::OkStatus();
}

}  // namespace

CredentialFiles CredentialFiles::FromEnvironment() {
  CredentialFiles f;
  f.auth_file = Env("REGISTRY_AUTH_FILE");
  std::string docker = Env("DOCKER_CONFIG");
  if (docker.empty()) docker = Env("HOME") + "/.docker";
  f.docker_config = docker + "/config.json";
  std::string xdg = Env("XDG_RUNTIME_DIR");
  if (!xdg.empty()) f.podman_auth = xdg + "/containers/auth.json";
  return f;
}

std::string ConfigKey(std::string_view domain) {
  if (domain == "docker.io") return "https://index.docker.io/v1/";
  return std::string(domain);
}

absl::StatusOr<AuthConfig> LookupCredentials(const CredentialFiles& files, std::string_view domain,
                                             std::string_view repository) {
  for (const std::string* path : {&files.auth_file, &files.docker_config, &files.podman_auth}) {
    KILN_ASSIGN_OR_RETURN(AuthConfig auth, LookupIn(*path, domain, repository));
    if (!auth.empty()) return auth;
  }
  return AuthConfig{};
}

absl::Status StoreCredentials(const CredentialFiles& files, std::string_view domain,
                              const AuthConfig& auth) {
  KILN_ASSIGN_OR_RETURN(json config, ReadJson(files.docker_config));
  std::string helper = HelperFor(config, domain);
  if (!helper.empty()) {
    json payload = {{"ServerURL", ConfigKey(domain)},
                    {"Username", auth.identity_token.empty() ? auth.username : "<token>"},
                    {"Secret", auth.identity_token.empty() ? auth.password : auth.identity_token}};
    return internal::RunCredentialHelper(helper, "store", payload.dump()).status();
  }
  if (!config.contains("auths") || !config["auths"].is_object()) config["auths"] = json::object();
  json entry = json::object();
  entry["auth"] = absl::Base64Escape(absl::StrCat(auth.username, ":", auth.password));
  if (!auth.identity_token.empty()) entry["identitytoken"] = auth.identity_token;
  config["auths"][ConfigKey(domain)] = entry;
  return WriteJsonAtomically(files.docker_config, config);
}

absl::Status EraseCredentials(const CredentialFiles& files, std::string_view domain) {
  KILN_ASSIGN_OR_RETURN(json config, ReadJson(files.docker_config));
  bool erased = false;
  if (config.contains("auths") && config["auths"].is_object()) {
    std::vector<std::string> keys;
    for (const auto& [key, value] : config["auths"].items()) {
      if (NormalizeKey(key) == domain) keys.push_back(key);
    }
    for (const std::string& k : keys) config["auths"].erase(k);
    if (!keys.empty()) {
      KILN_RETURN_IF_ERROR(WriteJsonAtomically(files.docker_config, config));
      erased = true;
    }
  }
  std::string helper = HelperFor(config, domain);
  if (!helper.empty()) {
    absl::StatusOr<std::string> out =
        internal::RunCredentialHelper(helper, "erase", ConfigKey(domain));
    if (out.ok()) erased = true;
    if (!out.ok() && !absl::IsNotFound(out.status())) return out.status();
  }
  if (!erased) {
    return absl::NotFoundError(absl::StrCat("logout: not logged in to '", AsAbsl(domain), "'"));
  }
  return absl::OkStatus();
}

}  // namespace kiln::engine::registry
