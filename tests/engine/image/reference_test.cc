// Reference parsing and normalization, checked against Docker's documented behaviour
// (distribution/reference ParseNormalizedNamed + TagNameOnly).
#include "engine/oci/reference.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::engine::oci {
namespace {

struct Case {
  const char* in;
  const char* normalized;
  const char* familiar;
};

TEST(ReferenceTest, NormalizesLikeDocker) {
  const Case cases[] = {
      {"busybox", "docker.io/library/busybox:latest", "busybox:latest"},
      {"busybox:1.35", "docker.io/library/busybox:1.35", "busybox:1.35"},
      {"library/debian", "docker.io/library/debian:latest", "debian:latest"},
      {"docker/docker", "docker.io/docker/docker:latest", "docker/docker:latest"},
      {"docker.io/docker/docker", "docker.io/docker/docker:latest", "docker/docker:latest"},
      {"docker.io/debian", "docker.io/library/debian:latest", "debian:latest"},
      {"docker.io/library/debian:12", "docker.io/library/debian:12", "debian:12"},
      {"index.docker.io/debian", "docker.io/library/debian:latest", "debian:latest"},
      {"index.docker.io/docker/docker", "docker.io/docker/docker:latest", "docker/docker:latest"},
      {"registry-1.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
      {"registry-1.docker.io/docker/docker:1", "docker.io/docker/docker:1", "docker/docker:1"},
      {"127.0.0.1:5000/docker/docker", "127.0.0.1:5000/docker/docker:latest",
       "127.0.0.1:5000/docker/docker:latest"},
      {"127.0.0.1:5000/debian", "127.0.0.1:5000/debian:latest", "127.0.0.1:5000/debian:latest"},
      {"192.168.0.1/docker/docker", "192.168.0.1/docker/docker:latest",
       "192.168.0.1/docker/docker:latest"},
      {"localhost/foo", "localhost/foo:latest", "localhost/foo:latest"},
      {"localhost:5000/foo:bar", "localhost:5000/foo:bar", "localhost:5000/foo:bar"},
      {"localhost:5000", "docker.io/library/localhost:5000", "localhost:5000"},
      {"foo_bar.com:8080", "docker.io/library/foo_bar.com:8080", "foo_bar.com:8080"},
      {"foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080", "foo/foo_bar.com:8080"},
      {"ghcr.io/o/r:1", "ghcr.io/o/r:1", "ghcr.io/o/r:1"},
      {"Example.com/foo", "Example.com/foo:latest", "Example.com/foo:latest"},
      {"a.b/c-d/e__f/g.h", "a.b/c-d/e__f/g.h:latest", "a.b/c-d/e__f/g.h:latest"},
      {"golang:1.19", "docker.io/library/golang:1.19", "golang:1.19"},
  };
  for (const auto& c : cases) {
    auto ref = NormalizeReference(c.in);
    ASSERT_TRUE(ref.ok()) << c.in << ": " << ref.status();
    EXPECT_EQ(ref->String(), c.normalized) << c.in;
    EXPECT_EQ(ref->Familiar(), c.familiar) << c.in;
  }
}

TEST(ReferenceTest, DigestReferencesKeepNoDefaultTag) {
  std::string digest = "sha256:" + std::string(64, 'f');
  auto ref = NormalizeReference("repo@" + digest);
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->String(), "docker.io/library/repo@" + digest);
  EXPECT_EQ(ref->tag, "");
  EXPECT_EQ(ref->digest, digest);

  auto both = NormalizeReference("ghcr.io/o/r:v1@" + digest);
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(both->tag, "v1");
  EXPECT_EQ(both->String(), "ghcr.io/o/r:v1@" + digest);
}

TEST(ReferenceTest, ParseKeepsMissingTagEmpty) {
  auto ref = ParseReference("busybox");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->tag, "");
  EXPECT_EQ(ref->Name(), "docker.io/library/busybox");
}

TEST(ReferenceTest, RejectsBadInputWithClearErrors) {
  struct Bad {
    std::string in;
    std::string message;
  };
  const Bad bad[] = {
      {"", "empty reference"},
      {"Uppercase:tag", "repository name (library/Uppercase) must be lowercase"},
      {"docker.io/Foo", "repository name (library/Foo) must be lowercase"},
      {std::string(64, 'a'), "64-byte hexadecimal"},
      {"aa/asdf$$^/aa", "path component"},
      {":justtag", "empty repository name"},
      {"@sha256:" + std::string(64, 'a'), "empty repository name"},
      {"validname@invaliddigest:ffff", "invalid digest"},
      {"repo@sha256:abc", "invalid digest"},
      {"foo:bar:baz", "path component"},
      {"repo:-tag", "invalid tag"},
      {"repo:" + std::string(129, 'a'), "invalid tag"},
      {"a//b", "path component"},
      {"-host.com/foo", "invalid registry host"},
      {"foo.com:/bar", "invalid registry host"},
      {"docker.io/" + std::string(250, 'a'), "255 characters"},
  };
  for (const auto& b : bad) {
    auto ref = NormalizeReference(b.in);
    ASSERT_FALSE(ref.ok()) << b.in << " parsed as " << ref->String();
    EXPECT_EQ(ref.status().code(), absl::StatusCode::kInvalidArgument) << b.in;
    EXPECT_THAT(std::string(ref.status().message()), ::testing::HasSubstr(b.message)) << b.in;
    EXPECT_THAT(std::string(ref.status().message()),
                ::testing::HasSubstr("parse reference '" + b.in + "'"));
  }
}

}  // namespace
}  // namespace kiln::engine::oci
