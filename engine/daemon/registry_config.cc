#include "engine/daemon/registry_config.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace kiln::engine::daemon {
namespace {

using base::AsAbsl;

std::string_view Trim(std::string_view s) {
  absl::string_view t = absl::StripAsciiWhitespace(AsAbsl(s));
  return std::string_view(t.data(), t.size());
}

absl::StatusOr<std::string> Quoted(std::string_view value, std::string_view key) {
  value = Trim(value);
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') {
    return absl::InvalidArgumentError(
        absl::StrCat("bad ", AsAbsl(key), " '", AsAbsl(value), "', expected a quoted string"));
  }
  return std::string(value.substr(1, value.size() - 2));
}

absl::StatusOr<bool> Bool(std::string_view value, std::string_view key) {
  value = Trim(value);
  if (value == "true") return true;
  if (value == "false") return false;
  return absl::InvalidArgumentError(
      absl::StrCat("bad ", AsAbsl(key), " '", AsAbsl(value), "', expected true or false"));
}

// ["a", "b"]
absl::StatusOr<std::vector<std::string>> StringList(std::string_view value, std::string_view key) {
  value = Trim(value);
  auto bad =
      absl::InvalidArgumentError(absl::StrCat("bad ", AsAbsl(key), " '", AsAbsl(value),
                                              "', expected a list of strings like [\"a\", \"b\"]"));
  if (value.size() < 2 || value.front() != '[' || value.back() != ']') return bad;
  std::vector<std::string> out;
  std::string_view rest = value.substr(1, value.size() - 2);
  while (!Trim(rest).empty()) {
    rest = Trim(rest);
    if (rest.front() != '"') return bad;
    size_t close = rest.find('"', 1);
    if (close == std::string_view::npos) return bad;
    out.emplace_back(rest.substr(1, close - 1));
    rest = Trim(rest.substr(close + 1));
    if (!rest.empty() && rest.front() != ',') return bad;
    if (!rest.empty()) rest.remove_prefix(1);
  }
  return out;
}

}  // namespace

absl::StatusOr<RegistrySection> ParseRegistrySection(std::string_view header) {
  header = Trim(header);
  RegistrySection section;
  std::string_view inner;
  if (header.starts_with("[[") && header.ends_with("]]")) {
    inner = Trim(header.substr(2, header.size() - 4));
    section.keypair = true;
  } else if (header.starts_with("[") && header.ends_with("]")) {
    inner = Trim(header.substr(1, header.size() - 2));
  }
  auto bad = absl::InvalidArgumentError(
      absl::StrCat("unknown table '", AsAbsl(header),
                   "', expected [registry.\"HOST\"] or [[registry.\"HOST\".keypair]]"));
  constexpr std::string_view kPrefix = "registry.\"";
  if (!inner.starts_with(kPrefix)) return bad;
  inner.remove_prefix(kPrefix.size());
  size_t close = inner.find('"');
  if (close == std::string_view::npos || close == 0) return bad;
  section.host = std::string(inner.substr(0, close));
  std::string_view tail = inner.substr(close + 1);
  if (section.keypair ? tail != ".keypair" : !tail.empty()) return bad;
  return section;
}

absl::Status ApplyRegistryKey(const RegistrySection& section, std::string_view key,
                              std::string_view raw, RegistryHostConfig& config) {
  if (section.keypair) {
    if (key == "key") {
      KILN_ASSIGN_OR_RETURN(config.key, Quoted(raw, key));
    } else if (key == "cert") {
      KILN_ASSIGN_OR_RETURN(config.cert, Quoted(raw, key));
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown key '", AsAbsl(key),
                                                     "' in [[registry.\"", section.host,
                                                     "\".keypair]], expected key or cert"));
    }
    return absl::OkStatus();
  }
  if (key == "mirrors") {
    KILN_ASSIGN_OR_RETURN(config.mirrors, StringList(raw, key));
  } else if (key == "ca") {
    KILN_ASSIGN_OR_RETURN(config.ca, StringList(raw, key));
  } else if (key == "http") {
    KILN_ASSIGN_OR_RETURN(bool http, Bool(raw, key));
    config.http = http;
  } else if (key == "insecure") {
    KILN_ASSIGN_OR_RETURN(config.insecure, Bool(raw, key));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown key '", AsAbsl(key),
                                                   "' in [registry.\"", section.host,
                                                   "\"], expected mirrors, http, insecure or ca"));
  }
  return absl::OkStatus();
}

absl::Status CheckRegistryConfig(const std::string& host, const RegistryHostConfig& config) {
  if (config.http.value_or(false) && config.insecure) {
    return absl::InvalidArgumentError(
        absl::StrCat("[registry.\"", host,
                     "\"]: http = true and insecure = true conflict (insecure is for HTTPS "
                     "without verification)"));
  }
  if (config.key.empty() != config.cert.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("[[registry.\"", host, "\".keypair]]: needs both key and cert"));
  }
  return absl::OkStatus();
}

}  // namespace kiln::engine::daemon
