// ParseOutput: the one parser of --output, run by kilnd before any step.
#include "engine/exporters/output.h"

#include <string>
#include <variant>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace kiln::engine {
namespace {

// The error message for `spec`; "" when it parses.
std::string ErrorOf(const ExportSpec& spec) {
  absl::StatusOr<Output> out = ParseOutput(spec);
  if (out.ok()) return "";
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << out.status();
  return std::string(out.status().message());
}

TEST(OutputTest, EveryTypeParsesToItsVariant) {
  auto image = ParseOutput({"image", {{"name", "app:1,app:latest"}, {"compression", "zstd"}}});
  ASSERT_TRUE(image.ok()) << image.status();
  const auto* i = std::get_if<ImageOutput>(&*image);
  ASSERT_NE(i, nullptr);
  EXPECT_EQ(i->names, (std::vector<std::string>{"app:1", "app:latest"}));
  EXPECT_EQ(i->compression, OutputCompression::kZstd);

  EXPECT_FALSE(i->push);
  // push=true and type=registry (BuildKit's alias) are the same typed output.
  auto pushed = ParseOutput({"image", {{"name", "reg.example:5000/a/b:1"}, {"push", "true"}}});
  auto registry = ParseOutput({"registry", {{"name", "reg.example:5000/a/b:1"}}});
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  ASSERT_TRUE(registry.ok()) << registry.status();
  for (const Output* o : {&*pushed, &*registry}) {
    const auto* p = std::get_if<ImageOutput>(o);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(p->push);
    EXPECT_EQ(p->names, std::vector<std::string>{"reg.example:5000/a/b:1"});
  }

  auto archive = ParseOutput({"oci", {{"dest", "/o/out.tar"}, {"name", "a:1"}}});
  ASSERT_TRUE(archive.ok()) << archive.status();
  const auto* a = std::get_if<OciArchiveOutput>(&*archive);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dest, "/o/out.tar");
  EXPECT_EQ(a->name, "a:1");
  EXPECT_FALSE(a->compression.has_value());

  for (const char* no : {"false", "0", "f", "F", "FALSE", "False"}) {
    auto layout = ParseOutput({"oci", {{"dest", "/o/layout"}, {"tar", no}}});
    ASSERT_TRUE(layout.ok()) << no << ": " << layout.status();
    EXPECT_TRUE(std::holds_alternative<OciLayoutOutput>(*layout)) << no;
  }
  for (const char* yes : {"true", "1", "t", "T", "TRUE", "True"}) {
    auto tar = ParseOutput({"oci", {{"dest", "/o/x.tar"}, {"tar", yes}}});
    ASSERT_TRUE(tar.ok()) << yes << ": " << tar.status();
    EXPECT_TRUE(std::holds_alternative<OciArchiveOutput>(*tar)) << yes;
  }

  auto docker = ParseOutput({"docker", {{"dest", "/o/d.tar"}, {"name", "d:1"}}});
  ASSERT_TRUE(docker.ok()) << docker.status();
  ASSERT_TRUE(std::holds_alternative<DockerArchiveOutput>(*docker));
  EXPECT_EQ(std::get<DockerArchiveOutput>(*docker).name, "d:1");

  auto local = ParseOutput({"local", {{"dest", "/o/dir"}}});
  ASSERT_TRUE(local.ok()) << local.status();
  ASSERT_TRUE(std::holds_alternative<LocalOutput>(*local));
  EXPECT_EQ(DestOf(*local), "/o/dir");
}

TEST(OutputTest, BadOutputsAreRejectedWithWhatWasExpected) {
  EXPECT_EQ(ErrorOf({"tarball", {{"dest", "/x"}}}),
            "--output type=tarball: unknown type; expected image, registry, oci, docker or local");
  EXPECT_EQ(ErrorOf({"oci", {{"dest", "/x"}, {"foo", "1"}}}),
            "--output type=oci: unknown key 'foo' for type=oci; expected one of dest, name, "
            "compression, tar");
  EXPECT_TRUE(absl::StrContains(ErrorOf({"image", {{"name", "a"}, {"push", "yes"}}}),
                                "bad push='yes'; expected true or false"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"registry", {{"name", "a"}, {"push", "false"}}}),
                                "unknown key 'push' for type=registry"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"registry", {}}),
                                "--output type=registry: missing name=REF; expected "
                                "type=registry,name=REF"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"image", {{"name", "Bad/UPPER:1"}}}),
                                "--output type=image: bad name 'Bad/UPPER:1'"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"oci", {{"dest", "/x"}, {"oci-mediatypes", "true"}}}),
                                "unknown key 'oci-mediatypes'"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"local", {{"dest", "/x"}, {"compression", "gzip"}}}),
                                "unknown key 'compression' for type=local; expected one of dest"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"docker", {{"dest", "/x"}}}),
                                "--output type=docker: missing name=REF"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"image", {}}), "--output type=image: missing name=REF"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"oci", {}}), "--output type=oci: missing dest="));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"local", {}}), "--output type=local: missing dest=DIR"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"local", {{"dest", "out"}}}),
                                "dest 'out' is relative; expected an absolute path"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"oci", {{"dest", "/x"}, {"tar", "yes"}}}),
                                "bad tar='yes'; expected true or false"));
  EXPECT_TRUE(
      absl::StrContains(ErrorOf({"docker", {{"dest", "/x"}, {"name", "a"}, {"tar", "false"}}}),
                        "--output type=docker: tar=false is not supported"));
  EXPECT_TRUE(absl::StrContains(ErrorOf({"oci", {{"dest", "/x"}, {"name", "a:1,b:1"}}}),
                                "holds several names; expected one"));
  EXPECT_EQ(ErrorOf({"image", {{"name", "a"}, {"compression", "lz4"}}}),
            "--output type=image,compression=lz4: unknown compression; expected gzip, zstd or "
            "uncompressed");
}

TEST(OutputTest, WireFormRoundTrips) {
  std::vector<ExportSpec> specs = {
      {"image", {{"name", "a:1,b:2"}, {"compression", "uncompressed"}}},
      {"image", {{"name", "r.example/a:1"}, {"push", "true"}}},
      {"oci", {{"dest", "/o/x.tar"}, {"name", "n:1"}, {"compression", "gzip"}}},
      {"oci", {{"dest", "/o/layout"}, {"tar", "false"}}},
      {"docker", {{"dest", "/o/d.tar"}, {"name", "d:1"}}},
      {"local", {{"dest", "/o/dir"}}},
  };
  for (const ExportSpec& spec : specs) {
    auto out = ParseOutput(spec);
    ASSERT_TRUE(out.ok()) << spec.type << ": " << out.status();
    ExportSpec back = ToExportSpec(*out);
    EXPECT_EQ(back.type, spec.type);
    EXPECT_EQ(back.attrs, spec.attrs) << spec.type;
    EXPECT_EQ(OutputType(*out), spec.type);
  }
}

TEST(OutputTest, LayerCompressionKeepsTheOldRules) {
  ImageOutput image{{"a"}, std::nullopt};
  LocalOutput local{"/o/dir"};
  OciArchiveOutput oci{"/o/x.tar", "", std::nullopt};
  // Only the local store (and a plain dir): no compression asked for.
  EXPECT_EQ(LayerCompressionFor({image, local}), std::nullopt);
  EXPECT_EQ(LayerCompressionFor({}), std::nullopt);
  // An image that leaves the machine: gzip.
  EXPECT_EQ(LayerCompressionFor({image, oci}), OutputCompression::kGzip);
  // The first explicit compression= wins, whatever the output.
  ImageOutput zstd{{"z"}, OutputCompression::kZstd};
  EXPECT_EQ(LayerCompressionFor({oci, zstd}), OutputCompression::kZstd);
  // A pushed image leaves the machine too.
  ImageOutput pushed{{"r.example/a:1"}, std::nullopt, true};
  EXPECT_EQ(LayerCompressionFor({image, pushed}), OutputCompression::kGzip);
  DockerArchiveOutput raw{"/o/d.tar", "d", OutputCompression::kUncompressed};
  EXPECT_EQ(LayerCompressionFor({raw, zstd}), OutputCompression::kUncompressed);
}

}  // namespace
}  // namespace kiln::engine
