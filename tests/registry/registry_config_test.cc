// kilnd's [registry."host"] tables (engine/daemon/registry_config.h through ParseDaemonConfig).
#include "engine/daemon/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::engine::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(RegistryConfigTest, TablesLikeBuildkitdToml) {
  auto c = ParseDaemonConfig(R"(max-parallelism = 2
[registry."docker.io"]
mirrors = ["mirror.example:5000", "harbor.example/proxy.docker.io"]   # comment
[registry."127.0.0.1:5000"]
http = true
[registry."reg.example"]
insecure = false
ca = ["/etc/kiln/ca.pem"]
[[registry."reg.example".keypair]]
key = "/k.pem"
cert = "/c.pem"
)",
                             "kilnd.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_parallelism, 2u);
  ASSERT_EQ(c->registries.size(), 3u);
  EXPECT_THAT(c->registries["docker.io"].mirrors,
              ElementsAre("mirror.example:5000", "harbor.example/proxy.docker.io"));
  EXPECT_EQ(c->registries["127.0.0.1:5000"].http, true);
  EXPECT_FALSE(c->registries["docker.io"].http.has_value());
  EXPECT_THAT(c->registries["reg.example"].ca, ElementsAre("/etc/kiln/ca.pem"));
  EXPECT_EQ(c->registries["reg.example"].key, "/k.pem");
  EXPECT_EQ(c->registries["reg.example"].cert, "/c.pem");
}

TEST(RegistryConfigTest, ErrorsNameFileLineAndKey) {
  auto unknown = ParseDaemonConfig("[registry.\"r\"]\nmirror = [\"x\"]\n", "k.toml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("k.toml:2: unknown key 'mirror'"));
  auto table = ParseDaemonConfig("[worker.oci]\n", "k.toml");
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(std::string(table.status().message()),
              HasSubstr("k.toml:1: unknown table '[worker.oci]'"));
  auto both = ParseDaemonConfig("[registry.\"r\"]\nhttp = true\ninsecure = true\n", "k.toml");
  ASSERT_FALSE(both.ok());
  EXPECT_THAT(std::string(both.status().message()), HasSubstr("conflict"));
  auto list = ParseDaemonConfig("[registry.\"r\"]\nca = \"/x\"\n", "k.toml");
  ASSERT_FALSE(list.ok());
  EXPECT_THAT(std::string(list.status().message()), HasSubstr("expected a list of strings"));
  auto half = ParseDaemonConfig("[[registry.\"r\".keypair]]\nkey = \"/k\"\n", "k.toml");
  ASSERT_FALSE(half.ok());
  EXPECT_THAT(std::string(half.status().message()), HasSubstr("needs both key and cert"));
}

}  // namespace
}  // namespace kiln::engine::daemon
