// kilnctl build's flags (buildctl form and docker short form) turned into a BuildRequest.
#include "tools/kilnctl/build_options.h"

#include <sys/stat.h>

#include <map>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/match.h"
#include "base/temp_dir.h"
#include "gtest/gtest.h"

namespace kiln::tools {
namespace {

TEST(BuildOptionsTest, BuildctlForm) {
  auto dir = base::TempDir::Create();
  ASSERT_TRUE(dir.ok());
  BuildFlags flags;
  flags.frontend = "dockerfile.v0";
  flags.locals = {"context=" + dir->path(), "dockerfile=."};
  flags.opts = {"filename=Dockerfile.dev", "target=builder", "build-arg:GO=1.19"};
  flags.outputs = {"type=oci,dest=out.tar", "type=image,name=app:1"};
  flags.no_cache = true;
  auto req = MakeBuildRequest(flags, dir->path());
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->context_dir, dir->path());
  EXPECT_EQ(req->dockerfile_dir, dir->path());
  EXPECT_EQ(req->dockerfile_name, "Dockerfile.dev");
  EXPECT_EQ(req->target, "builder");
  EXPECT_EQ(req->build_args.at("GO"), "1.19");
  ASSERT_EQ(req->exports.size(), 2u);
  const auto* oci = std::get_if<engine::OciArchiveOutput>(&req->exports[0]);
  ASSERT_NE(oci, nullptr);
  EXPECT_EQ(oci->dest, dir->path() + "/out.tar");
  const auto* image = std::get_if<engine::ImageOutput>(&req->exports[1]);
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(image->names, std::vector<std::string>{"app:1"});
  EXPECT_TRUE(req->no_cache);
}

TEST(BuildOptionsTest, CacheExportsAndImports) {
  auto dir = base::TempDir::Create();
  ASSERT_TRUE(dir.ok());
  BuildFlags flags;
  flags.context = dir->path();
  flags.cache_exports = {"type=local,dest=cache,mode=max",
                         "type=registry,ref=r:5000/c:1,"
                         "compression=zstd,ignore-error=true"};
  flags.cache_imports = {"type=local,src=./cache", "r:5000/c:main"};
  auto req = MakeBuildRequest(flags, dir->path());
  ASSERT_TRUE(req.ok()) << req.status();
  using engine::remotecache::CacheMode;
  using engine::remotecache::CacheType;
  ASSERT_EQ(req->cache_exports.size(), 2u);
  EXPECT_EQ(req->cache_exports[0].type, CacheType::kLocal);
  EXPECT_EQ(req->cache_exports[0].dest, dir->path() + "/cache");
  EXPECT_EQ(req->cache_exports[0].mode, CacheMode::kMax);
  EXPECT_EQ(req->cache_exports[1].type, CacheType::kRegistry);
  EXPECT_EQ(req->cache_exports[1].ref, "r:5000/c:1");
  EXPECT_EQ(req->cache_exports[1].mode, CacheMode::kMin);
  EXPECT_EQ(req->cache_exports[1].compression, "zstd");
  EXPECT_TRUE(req->cache_exports[1].ignore_error);
  ASSERT_EQ(req->cache_imports.size(), 2u);
  EXPECT_EQ(req->cache_imports[0].src, dir->path() + "/cache");
  EXPECT_EQ(req->cache_imports[1].ref, "r:5000/c:main");  // buildx's bare REF
  // Round trip through the wire form kilnd parses.
  auto back = engine::remotecache::ParseCacheExport(ToText(req->cache_exports[1]));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->compression, "zstd");
  EXPECT_TRUE(back->ignore_error);

  for (const auto& [bad, want] : std::vector<std::pair<std::string, std::string>>{
           {"dest=x", "no type="},
           {"type=s3,bucket=b", "expected type=local or type=registry"},
           {"type=local,dest=x,mode=all", "mode=all, expected min or max"},
           {"type=local,dest=x,compression=lz4", "expected gzip, zstd or uncompressed"},
           {"type=local,ref=x", "unknown field 'ref'"},
           {"type=registry", "no ref="},
           {"type=local,dest=x,ignore-error=yes", "expected true or false"}}) {
    BuildFlags f;
    f.context = dir->path();
    f.cache_exports = {bad};
    auto r = MakeBuildRequest(f, dir->path());
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StrContains(r.status().message(), want)) << bad << ": " << r.status();
    EXPECT_TRUE(absl::StrContains(r.status().message(), "--export-cache")) << r.status();
  }
}

TEST(BuildOptionsTest, SecretsInBuildctlSyntax) {
  auto dir = base::TempDir::Create();
  ASSERT_TRUE(dir.ok());
  BuildFlags flags;
  flags.context = dir->path();
  flags.secrets = {"id=npm,src=tokens/npmrc", "type=file,source=/etc/hostname", "src=/run/aws.txt"};
  auto req = MakeBuildRequest(flags, dir->path());
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->secrets,
            (std::map<std::string, std::string>{{"npm", dir->path() + "/tokens/npmrc"},
                                                {"hostname", "/etc/hostname"},
                                                {"aws.txt", "/run/aws.txt"}}));
  for (const char* bad : {"id=x", "id=x,env=TOKEN", "id=x,src=/a,bogus=1", "nonsense"}) {
    flags.secrets = {bad};
    auto r = MakeBuildRequest(flags, dir->path());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StrContains(r.status().message(), "--secret")) << r.status();
  }
  flags.secrets = {"id=x,src=/a", "id=x,src=/b"};
  EXPECT_TRUE(
      absl::StrContains(MakeBuildRequest(flags, dir->path()).status().message(), "given twice"));
}

TEST(BuildOptionsTest, NetworkAndAllow) {
  auto dir = base::TempDir::Create();
  ASSERT_TRUE(dir.ok());
  BuildFlags flags;
  flags.context = dir->path();
  flags.network = "host";
  flags.allow = {"network.host"};
  auto req = MakeBuildRequest(flags, dir->path());
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->network, "host");
  EXPECT_EQ(req->entitlements, std::vector<std::string>{"network.host"});
  flags.network = "bridge";
  EXPECT_TRUE(absl::StrContains(MakeBuildRequest(flags, dir->path()).status().message(),
                                "--network=bridge: expected default, none or host"));
  flags.network = "none";
  flags.allow = {"security.insecure"};
  EXPECT_TRUE(absl::StrContains(MakeBuildRequest(flags, dir->path()).status().message(),
                                "--allow security.insecure: unknown entitlement"));
}

TEST(BuildOptionsTest, ShortForm) {
  auto dir = base::TempDir::Create();
  ASSERT_TRUE(dir.ok());
  ASSERT_EQ(mkdir((dir->path() + "/sub").c_str(), 0755), 0);
  BuildFlags flags;
  flags.file = "sub/Dockerfile.x";
  flags.tags = {"hello:latest"};
  flags.target = "runtime";
  flags.build_args = {"A=1", "B=x=y"};
  flags.context = ".";
  auto req = MakeBuildRequest(flags, dir->path());
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->context_dir, dir->path());
  EXPECT_EQ(req->dockerfile_dir, dir->path() + "/sub");
  EXPECT_EQ(req->dockerfile_name, "Dockerfile.x");
  EXPECT_EQ(req->target, "runtime");
  EXPECT_EQ(req->build_args.at("B"), "x=y");
  ASSERT_EQ(req->exports.size(), 1u);
  const auto* image = std::get_if<engine::ImageOutput>(&req->exports[0]);
  ASSERT_NE(image, nullptr);
  EXPECT_EQ(image->names, std::vector<std::string>{"hello:latest"});
}

TEST(BuildOptionsTest, BadFlagsAreClearErrors) {
  auto dir = base::TempDir::Create();
  ASSERT_TRUE(dir.ok());
  BuildFlags none;
  EXPECT_TRUE(absl::StrContains(MakeBuildRequest(none, dir->path()).status().message(),
                                "--local context=DIR"));
  BuildFlags bad_output;
  bad_output.context = ".";
  bad_output.outputs = {"type=tarball,dest=x"};
  EXPECT_TRUE(absl::StrContains(MakeBuildRequest(bad_output, dir->path()).status().message(),
                                "--output type=tarball: unknown type; expected image, registry, "
                                "oci, docker or local"))
      << MakeBuildRequest(bad_output, dir->path()).status();
  BuildFlags no_name;
  no_name.context = ".";
  no_name.outputs = {"type=image"};
  EXPECT_FALSE(MakeBuildRequest(no_name, dir->path()).ok());
  BuildFlags bad_opt;
  bad_opt.context = ".";
  bad_opt.opts = {"colour=blue"};
  EXPECT_TRUE(absl::StrContains(MakeBuildRequest(bad_opt, dir->path()).status().message(),
                                "unknown --opt 'colour'"));
  BuildFlags missing;
  missing.context = "does-not-exist";
  EXPECT_EQ(MakeBuildRequest(missing, dir->path()).status().code(), absl::StatusCode::kNotFound);
  BuildFlags frontend;
  frontend.context = ".";
  frontend.frontend = "gateway.v0";
  EXPECT_FALSE(MakeBuildRequest(frontend, dir->path()).ok());
}

TEST(BuildOptionsTest, EveryReadmeOutputFormParses) {
  const std::string cwd = "/work/proj";
  struct Case {
    const char* flag;
    const char* type;
  };
  for (const Case& c :
       {Case{"type=oci,dest=out.tar", "oci"}, Case{"type=oci,dest=layout,tar=false", "oci"},
        Case{"type=docker,dest=out.tar,name=app:1", "docker"},
        Case{"type=local,dest=rootfs", "local"}, Case{"type=image,name=app:1", "image"},
        Case{"type=image,name=app:1,compression=zstd", "image"},
        Case{"type=oci,dest=out.tar,compression=uncompressed", "oci"}}) {
    absl::StatusOr<Output> out = ParseOutputSpec(c.flag, cwd);
    ASSERT_TRUE(out.ok()) << c.flag << ": " << out.status();
    EXPECT_STREQ(engine::OutputType(*out), c.type) << c.flag;
    std::string dest = engine::DestOf(*out);
    if (!dest.empty()) EXPECT_TRUE(absl::StartsWith(dest, cwd + "/")) << c.flag << " -> " << dest;
  }
  auto layout = ParseOutputSpec("type=oci,dest=./layout,tar=false", cwd);
  ASSERT_TRUE(layout.ok()) << layout.status();
  const auto* l = std::get_if<engine::OciLayoutOutput>(&*layout);
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->dest, "/work/proj/layout");
}

TEST(BuildOptionsTest, AKeyGivenTwiceKeepsTheLastValue) {
  auto out = ParseOutputSpec("type=oci,dest=a.tar,dest=/abs/b.tar,tar=false,tar=true", "/w");
  ASSERT_TRUE(out.ok()) << out.status();
  const auto* a = std::get_if<engine::OciArchiveOutput>(&*out);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dest, "/abs/b.tar");
}

TEST(BuildOptionsTest, OutputsThatUsedToPassAreNowRejectedBeforeSending) {
  for (const char* bad :
       {"type=image,name=a,push=maybe", "type=registry,name=a,push=false", "type=oci,dest=x,oci-mediatypes=true",
        "type=local,dest=x,compression=gzip", "type=docker,dest=x,name=a,tar=false",
        "type=oci,dest=x,tar=maybe", "dest=x", "type=oci,dest"}) {
    auto out = ParseOutputSpec(bad, "/w");
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StrContains(out.status().message(), "--output")) << out.status();
  }
}

}  // namespace
}  // namespace kiln::tools
