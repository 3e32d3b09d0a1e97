#include "engine/registry/auth.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "base/status.h"
#include "engine/registry/errors.h"
#include "nlohmann/json.hpp"

namespace kiln::engine::registry {
namespace {

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void SkipSpaces(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

std::string ReadToken(std::string_view s, size_t& i) {
  size_t start = i;
  while (i < s.size() && IsTokenChar(s[i])) ++i;
  return std::string(s.substr(start, i - start));
}

absl::StatusOr<std::string> ReadQuoted(std::string_view s, size_t& i) {
  std::string out;
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      out.push_back(s[++i]);
    } else if (s[i] == '"') {
      ++i;
      return out;
    } else {
      out.push_back(s[i]);
    }
  }
  return absl::InvalidArgumentError("unterminated quoted string");
}

}  // namespace

absl::StatusOr<std::vector<Challenge>> ParseChallenges(std::string_view header) {
  std::vector<Challenge> out;
  size_t i = 0;
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("parse WWW-Authenticate '", base::AsAbsl(header), "': ", why));
  };
  while (i < header.size()) {
    SkipSpaces(header, i);
    if (i < header.size() && header[i] == ',') {
      ++i;
      continue;
    }
    if (i >= header.size()) break;
    std::string word = ReadToken(header, i);
    if (word.empty()) return bad("expected an auth scheme");
    size_t after_word = i;
    SkipSpaces(header, i);
    if (i < header.size() && header[i] == '=' && !out.empty()) {
      // name=value belonging to the current challenge.
      ++i;
      SkipSpaces(header, i);
      std::string value;
      if (i < header.size() && header[i] == '"') {
        auto q = ReadQuoted(header, i);
        if (!q.ok()) return bad(q.status().message());
        value = std::move(*q);
      } else {
        value = ReadToken(header, i);
      }
      out.back().params[absl::AsciiStrToLower(word)] = std::move(value);
      continue;
    }
    i = after_word;
    out.push_back(Challenge{absl::AsciiStrToLower(word), {}});
  }
  if (out.empty()) return bad("no challenge");
  return out;
}

std::string BasicAuthorization(const AuthConfig& auth) {
  return absl::StrCat("Basic ",
                      absl::Base64Escape(absl::StrCat(auth.username, ":", auth.password)));
}

namespace {

std::string UrlEncode(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      out.push_back(c);
    } else {
      absl::StrAppend(&out, "%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  return out;
}

absl::StatusOr<Token> ParseTokenReply(const HttpResponse& resp, std::string_view realm) {
  nlohmann::json j = nlohmann::json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  Token t;
  if (j.is_object()) {
    if (j.contains("token") && j["token"].is_string()) t.token = j["token"].get<std::string>();
    if (t.token.empty() && j.contains("access_token") && j["access_token"].is_string()) {
      t.token = j["access_token"].get<std::string>();
    }
  }
  if (t.token.empty()) {
    return absl::UnavailableError(
        absl::StrCat("fetch token from '", base::AsAbsl(realm), "': the reply has no token"));
  }
  int64_t expires_in = 60;
  if (j.contains("expires_in") && j["expires_in"].is_number_integer()) {
    expires_in = std::max<int64_t>(60, j["expires_in"].get<int64_t>());
  }
  t.expires = absl::Now() + absl::Seconds(expires_in);
  return t;
}

std::string ServiceParam(const Challenge& c) {
  auto it = c.params.find("service");
  return it == c.params.end() ? std::string() : it->second;
}

}  // namespace

absl::StatusOr<Token> FetchToken(HttpClient& http, const Challenge& challenge,
                                 const std::vector<std::string>& scopes, const AuthConfig& auth) {
  auto realm_it = challenge.params.find("realm");
  if (realm_it == challenge.params.end() || realm_it->second.empty()) {
    return absl::InvalidArgumentError("fetch token: the Bearer challenge has no realm");
  }
  const std::string& realm = realm_it->second;
  std::string service = ServiceParam(challenge);
  if (!auth.identity_token.empty()) {
    HttpRequest post;
    post.method = "POST";
    post.url = realm;
    post.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    post.body = absl::StrCat("grant_type=refresh_token&client_id=kiln&access_type=offline",
                             "&service=", UrlEncode(service),
                             "&scope=", UrlEncode(absl::StrJoin(scopes, " ")),
                             "&refresh_token=", UrlEncode(auth.identity_token));
    KILN_ASSIGN_OR_RETURN(HttpResponse resp, http.Do(post));
    if (resp.status == 200) return ParseTokenReply(resp, realm);
    if (resp.status != 400 && resp.status != 401 && resp.status != 404 && resp.status != 405) {
      return HttpError(resp, absl::StrCat("fetch token from '", realm, "'"));
    }
  }
  HttpRequest get;
  get.url = realm;
  char sep = realm.find('?') == std::string::npos ? '?' : '&';
  if (!service.empty()) {
    absl::StrAppend(&get.url, std::string(1, sep), "service=", UrlEncode(service));
    sep = '&';
  }
  for (const std::string& scope : scopes) {
    absl::StrAppend(&get.url, std::string(1, sep), "scope=", UrlEncode(scope));
    sep = '&';
  }
  if (!auth.username.empty()) get.headers.emplace_back("Authorization", BasicAuthorization(auth));
  KILN_ASSIGN_OR_RETURN(HttpResponse resp, http.Do(get));
  if (resp.status != 200) return HttpError(resp, absl::StrCat("fetch token from '", realm, "'"));
  return ParseTokenReply(resp, realm);
}

}  // namespace kiln::engine::registry
