// Docker config.json / Podman auth.json lookup, credential helpers, login/logout format.
#include "engine/registry/credentials.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "base/temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace kiln::engine::registry {
namespace {

using ::testing::HasSubstr;

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = base::TempDir::Create("kiln-creds-");
    ASSERT_TRUE(d.ok());
    dir_ = std::move(*d);
    files_.docker_config = dir_.path() + "/docker/config.json";
    files_.podman_auth = dir_.path() + "/run/containers/auth.json";
  }
  void Write(const std::string& path, const std::string& text) {
    std::string parent = path.substr(0, path.rfind('/'));
    std::string cmd = "mkdir -p '" + parent + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    std::ofstream(path) << text;
  }
  std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string B64(const std::string& s) { return absl::Base64Escape(s); }

  base::TempDir dir_;
  CredentialFiles files_;
};

TEST_F(CredentialsTest, DockerAuthsWithEveryKeyForm) {
  Write(files_.docker_config, R"({"auths":{
    "https://index.docker.io/v1/":{"auth":")" +
                                  B64("hub:hubpw") + R"("},
    "https://reg.example:5000":{"auth":")" +
                                  B64("u:p:with:colons") + R"("},
    "ghcr.io":{"identitytoken":"refresh"}}})");
  auto hub = LookupCredentials(files_, "docker.io");
  ASSERT_TRUE(hub.ok()) << hub.status();
  EXPECT_EQ(hub->username, "hub");
  EXPECT_EQ(hub->password, "hubpw");
  auto reg = LookupCredentials(files_, "reg.example:5000");
  ASSERT_TRUE(reg.ok());
  EXPECT_EQ(reg->username, "u");
  EXPECT_EQ(reg->password, "p:with:colons");
  auto gh = LookupCredentials(files_, "ghcr.io");
  ASSERT_TRUE(gh.ok());
  EXPECT_EQ(gh->identity_token, "refresh");
  auto none = LookupCredentials(files_, "quay.io");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(CredentialsTest, PodmanNamespaceKeysLongestFirst) {
  Write(files_.podman_auth, R"({"auths":{
    "quay.io":{"auth":")" + B64("host:1") +
                                R"("},
    "quay.io/org":{"auth":")" + B64("org:2") +
                                R"("},
    "quay.io/org/repo":{"auth":")" +
                                B64("repo:3") + R"("}}})");
  EXPECT_EQ(LookupCredentials(files_, "quay.io", "org/repo")->username, "repo");
  EXPECT_EQ(LookupCredentials(files_, "quay.io", "org/other")->username, "org");
  EXPECT_EQ(LookupCredentials(files_, "quay.io", "else/x")->username, "host");
  EXPECT_EQ(LookupCredentials(files_, "quay.io", "organic/x")->username, "host");
}

TEST_F(CredentialsTest, MalformedFileNamesTheFile) {
  Write(files_.docker_config, "{not json");
  auto r = LookupCredentials(files_, "docker.io");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(files_.docker_config));
}

TEST_F(CredentialsTest, CredentialHelpersFromPath) {
  std::string bin = dir_.path() + "/bin";
  // A helper that answers "get" for two servers and says "not found" otherwise, and records
  // store/erase payloads.
  Write(bin + "/docker-credential-kilntest", R"(#!/bin/sh
read server
case "$1" in
  get) if [ "$server" = "helped.example" ]; then
         echo '{"ServerURL":"helped.example","Username":"helper-user","Secret":"helper-pw"}'
       elif [ "$server" = "tok.example" ]; then
         echo '{"ServerURL":"tok.example","Username":"<token>","Secret":"idtok"}'
       else echo "credentials not found in native keychain"; exit 1; fi ;;
  store) echo "$server" > ")" + dir_.path() + R"(/stored" ;;
  erase) echo "$server" > ")" + dir_.path() + R"(/erased" ;;
esac
)");
  ASSERT_EQ(::chmod((bin + "/docker-credential-kilntest").c_str(), 0755), 0);
  std::string path = bin + ":" + std::getenv("PATH");
  setenv("PATH", path.c_str(), 1);
  Write(files_.docker_config,
        R"({"credHelpers":{"helped.example":"kilntest"},"credsStore":"kilntest"})");
  auto helped = LookupCredentials(files_, "helped.example");
  ASSERT_TRUE(helped.ok()) << helped.status();
  EXPECT_EQ(helped->username, "helper-user");
  EXPECT_EQ(helped->password, "helper-pw");
  auto tok = LookupCredentials(files_, "tok.example");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(tok->identity_token, "idtok");
  auto none = LookupCredentials(files_, "other.example");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());

  ASSERT_TRUE(StoreCredentials(files_, "helped.example", {.username = "a", .password = "b"}).ok());
  EXPECT_THAT(Read(dir_.path() + "/stored"), HasSubstr("\"Secret\":\"b\""));
  EXPECT_THAT(Read(files_.docker_config), ::testing::Not(HasSubstr("auths")));
  ASSERT_TRUE(EraseCredentials(files_, "helped.example").ok());
  EXPECT_EQ(Read(dir_.path() + "/erased"), "helped.example\n");
}

TEST_F(CredentialsTest, LoginWritesDockerFormatAndLogoutRemovesIt) {
  Write(files_.docker_config, R"({"auths":{},"psFormat":"keep me"})");
  ASSERT_TRUE(StoreCredentials(files_, "docker.io", {.username = "me", .password = "pw"}).ok());
  ASSERT_TRUE(StoreCredentials(files_, "127.0.0.1:5000", {.username = "x", .password = "y"}).ok());
  nlohmann::json j = nlohmann::json::parse(Read(files_.docker_config));
  EXPECT_EQ(j["auths"]["https://index.docker.io/v1/"]["auth"], B64("me:pw"));
  EXPECT_EQ(j["auths"]["127.0.0.1:5000"]["auth"], B64("x:y"));
  EXPECT_EQ(j["psFormat"], "keep me");
  struct stat st;
  ASSERT_EQ(::stat(files_.docker_config.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(LookupCredentials(files_, "docker.io")->password, "pw");

  ASSERT_TRUE(EraseCredentials(files_, "docker.io").ok());
  EXPECT_TRUE(LookupCredentials(files_, "docker.io")->empty());
  EXPECT_EQ(LookupCredentials(files_, "127.0.0.1:5000")->username, "x");
  auto again = EraseCredentials(files_, "docker.io");
  EXPECT_TRUE(absl::IsNotFound(again)) << again;
}

TEST_F(CredentialsTest, RegistryAuthFileComesFirst) {
  files_.auth_file = dir_.path() + "/explicit.json";
  Write(files_.auth_file, R"({"auths":{"r.example":{"auth":")" + B64("first:1") + R"("}}})");
  Write(files_.docker_config, R"({"auths":{"r.example":{"auth":")" + B64("second:2") + R"("}}})");
  EXPECT_EQ(LookupCredentials(files_, "r.example")->username, "first");
}

}  // namespace
}  // namespace kiln::engine::registry
