#include "engine/daemon/config.h"

#include <cerrno>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "engine/daemon/registry_config.h"

namespace kiln::engine::daemon {
namespace {

absl::string_view Trim(absl::string_view s) { return absl::StripAsciiWhitespace(s); }

// Removes a "# comment" that is outside double quotes.
absl::string_view StripComment(absl::string_view line) {
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '"') quoted = !quoted;
    if (line[i] == '#' && !quoted) return line.substr(0, i);
  }
  return line;
}

absl::StatusOr<std::string> Unquote(absl::string_view value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    return std::string(value.substr(1, value.size() - 2));
  }
  if (!value.empty() && value.front() == '"') {
    return absl::InvalidArgumentError("unterminated string, expected a closing '\"'");
  }
  return std::string(value);
}

absl::StatusOr<std::vector<unsigned>> ParseUidList(absl::string_view value) {
  if (value.size() < 2 || value.front() != '[' || value.back() != ']') {
    return absl::InvalidArgumentError("expected a list of uids like [1000, 1001]");
  }
  std::vector<unsigned> uids;
  for (absl::string_view item : absl::StrSplit(value.substr(1, value.size() - 2), ',')) {
    item = Trim(item);
    if (item.empty()) continue;
    unsigned uid = 0;
    if (!absl::SimpleAtoi(item, &uid)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad uid '", item, "', expected a non-negative integer"));
    }
    uids.push_back(uid);
  }
  return uids;
}

// ["a", "b"]: a list of quoted strings.
absl::StatusOr<std::vector<std::string>> ParseStringList(absl::string_view value,
                                                         absl::string_view example) {
  if (value.size() < 2 || value.front() != '[' || value.back() != ']') {
    return absl::InvalidArgumentError(absl::StrCat("expected a list like ", example));
  }
  std::vector<std::string> out;
  for (absl::string_view item : absl::StrSplit(value.substr(1, value.size() - 2), ',')) {
    item = Trim(item);
    if (item.empty()) continue;
    if (item.size() < 2 || item.front() != '"' || item.back() != '"') {
      return absl::InvalidArgumentError(
          absl::StrCat("bad list item '", item, "', expected a quoted string like ", example));
    }
    out.emplace_back(item.substr(1, item.size() - 2));
  }
  return out;
}

absl::Status ApplyKey(absl::string_view key, absl::string_view raw, DaemonConfig& config) {
  if (key == "allow-uids") {
    KILN_ASSIGN_OR_RETURN(config.allow_uids, ParseUidList(raw));
    return absl::OkStatus();
  }
  if (key == "dns-servers") {
    KILN_ASSIGN_OR_RETURN(config.dns_servers, ParseStringList(raw, "[\"192.0.2.53\"]"));
    return absl::OkStatus();
  }
  if (key == "allow-insecure-entitlements") {
    KILN_ASSIGN_OR_RETURN(config.insecure_entitlements,
                          ParseStringList(raw, "[\"network.host\"]"));
    for (const std::string& e : config.insecure_entitlements) {
      if (e != "network.host") {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown entitlement '", e, "', expected \"network.host\""));
      }
    }
    return absl::OkStatus();
  }
  KILN_ASSIGN_OR_RETURN(std::string value, Unquote(raw));
  if (key == "max-parallelism") {
    int64_t n = 0;
    if (!absl::SimpleAtoi(value, &n) || n < 0 || n > 4096) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad max-parallelism '", value, "', expected an integer 0..4096"));
    }
    config.max_parallelism = static_cast<size_t>(n);
  } else if (key == "default-network") {
    if (value != "default" && value != "host" && value != "none") {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad default-network '", value, "', expected \"default\", \"none\" or \"host\""));
    }
    config.default_network = value;
  } else if (key == "slirp4netns") {
    if (value.empty()) {
      return absl::InvalidArgumentError("empty slirp4netns, expected the helper's path");
    }
    config.slirp4netns = value;
  } else if (key == "gc-keep-storage") {
    KILN_ASSIGN_OR_RETURN(config.gc_keep_storage_bytes, ParseSize(value));
  } else if (key == "gc-keep-duration") {
    KILN_ASSIGN_OR_RETURN(config.gc_keep_duration, ParseDurationText(value));
  } else if (key == "gc-interval") {
    KILN_ASSIGN_OR_RETURN(config.gc_interval, ParseDurationText(value));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown key '", key,
        "', expected one of max-parallelism, default-network, slirp4netns, dns-servers, "
        "allow-insecure-entitlements, gc-keep-storage, gc-keep-duration, gc-interval, "
        "allow-uids"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> ParseSize(std::string_view text) {
  absl::string_view s = Trim(base::AsAbsl(text));
  size_t digits = 0;
  while (digits < s.size() && (absl::ascii_isdigit(s[digits]) || s[digits] == '.')) ++digits;
  double number = 0;
  std::string unit = absl::AsciiStrToLower(Trim(s.substr(digits)));
  if (digits == 0 || !absl::SimpleAtod(s.substr(0, digits), &number)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad size '", s, "', expected a number with an optional unit like 10GB"));
  }
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1},        {"b", 1},          {"k", 1e3},        {"kb", 1e3},
      {"m", 1e6},     {"mb", 1e6},       {"g", 1e9},        {"gb", 1e9},
      {"t", 1e12},    {"tb", 1e12},      {"kib", 1024.0},   {"mib", 1048576.0},
      {"gib", 1073741824.0}, {"tib", 1099511627776.0}};
  for (const auto& [name, scale] : kUnits) {
    if (unit == name) return static_cast<int64_t>(std::llround(number * scale));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("bad size unit '", unit, "', expected B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"));
}

absl::StatusOr<absl::Duration> ParseDurationText(std::string_view text) {
  absl::string_view s = Trim(base::AsAbsl(text));
  if (s == "0") return absl::ZeroDuration();
  absl::Duration total = absl::ZeroDuration();
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && absl::ascii_isdigit(s[i])) ++i;
    int64_t n = 0;
    if (start == i || i == s.size() || !absl::SimpleAtoi(s.substr(start, i - start), &n)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad duration '", s, "', expected units s, m, h or d like 48h or 1d12h"));
    }
    switch (s[i]) {
      case 's': total += absl::Seconds(n); break;
      case 'm': total += absl::Minutes(n); break;
      case 'h': total += absl::Hours(n); break;
      case 'd': total += absl::Hours(24 * n); break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("bad duration unit '", s.substr(i, 1), "' in '", s,
                         "', expected s, m, h or d"));
    }
    ++i;
  }
  if (s.empty()) return absl::InvalidArgumentError("empty duration, expected e.g. 48h");
  return total;
}

absl::StatusOr<DaemonConfig> ParseDaemonConfig(std::string_view text,
                                               std::string_view filename) {
  DaemonConfig config;
  int line_no = 0;
  std::optional<RegistrySection> section;  // inside a [registry."host"] table
  auto at = [&](const absl::Status& status) {
    return absl::InvalidArgumentError(
        absl::StrCat(base::AsAbsl(filename), ":", line_no, ": ", status.message()));
  };
  for (absl::string_view line : absl::StrSplit(base::AsAbsl(text), '\n')) {
    ++line_no;
    line = Trim(StripComment(line));
    if (line.empty()) continue;
    if (line.front() == '[') {
      absl::StatusOr<RegistrySection> parsed =
          ParseRegistrySection(std::string_view(line.data(), line.size()));
      if (!parsed.ok()) return at(parsed.status());
      section = std::move(*parsed);
      config.registries[section->host];
      continue;
    }
    if (section.has_value()) {
      size_t eq = line.find('=');
      absl::Status status =
          eq == absl::string_view::npos
              ? absl::InvalidArgumentError(absl::StrCat("expected 'key = value', got '", line, "'"))
              : ApplyRegistryKey(*section, std::string(Trim(line.substr(0, eq))),
                                 std::string(Trim(line.substr(eq + 1))),
                                 config.registries[section->host]);
      if (!status.ok()) return at(status);
      continue;
    }
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(base::AsAbsl(filename), ":", line_no,
                                                     ": expected 'key = value', got '", line,
                                                     "'"));
    }
    absl::Status status = ApplyKey(Trim(line.substr(0, eq)), Trim(line.substr(eq + 1)), config);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(base::AsAbsl(filename), ":", line_no, ": ", status.message()));
    }
  }
  for (const auto& [host, registry] : config.registries) {
    absl::Status status = CheckRegistryConfig(host, registry);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(base::AsAbsl(filename), ": ", status.message()));
    }
  }
  return config;
}

absl::StatusOr<DaemonConfig> LoadDaemonConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return DaemonConfig{};
    return base::ErrnoError(absl::StrCat("open config '", path, "'"));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseDaemonConfig(buffer.str(), path);
}

}  // namespace kiln::engine::daemon
