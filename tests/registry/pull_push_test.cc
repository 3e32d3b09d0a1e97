// Pull and push against Debian's real docker-registry on loopback (tests/registry/
// test_registry.h): plain HTTP, TLS with the test's CA, htpasswd Basic auth and Bearer tokens;
// faults (corrupt blob, cut transfer, 429, schema1, oversized manifest, redirect) through a
// small proxy; mirrors.
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/temp_dir.h"
#include "cache/fs_content_store.h"
#include "engine/image/image_store.h"
#include "engine/image/store_resolver.h"
#include "engine/oci/manifest.h"
#include "engine/oci/media_types.h"
#include "engine/oci/reference.h"
#include "engine/registry/distribution.h"
#include "engine/registry/pull.h"
#include "engine/registry/push.h"
#include "engine/registry/transfer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/image/test_util.h"
#include "tests/registry/test_registry.h"

namespace kiln::engine::registry {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using tests::RegistryConfig;
using tests::TestRegistry;

// One state dir: a content store and an image store over it.
struct Store {
  base::TempDir dir;
  std::unique_ptr<cache::ContentStore> content;
  std::unique_ptr<image::ImageStore> images;
};

Store MakeStore() {
  Store s;
  auto dir = base::TempDir::Create("kiln-regtest-");
  EXPECT_TRUE(dir.ok()) << dir.status();
  s.dir = std::move(*dir);
  auto cs = cache::OpenFsContentStore(s.dir.path() + "/content");
  EXPECT_TRUE(cs.ok()) << cs.status();
  s.content = std::move(*cs);
  auto is = image::ImageStore::Open(s.dir.path() + "/images", s.content.get());
  EXPECT_TRUE(is.ok()) << is.status();
  s.images = std::move(*is);
  return s;
}

oci::Reference Ref(const std::string& text) {
  auto r = oci::NormalizeReference(text);
  EXPECT_TRUE(r.ok()) << r.status();
  return *r;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int CountBlobs(cache::ContentStore& store) {
  int n = 0;
  EXPECT_TRUE(store.Walk([&](const cache::BlobInfo&) { ++n; }).ok());
  return n;
}

class PullPushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = MakeStore();
    std::string layout = image::test_util::BusyboxLayoutDir();
    ASSERT_FALSE(layout.empty()) << "the busybox layout is missing: run tools/images/build.sh";
    auto imported = source_.images->Import(layout, {.name = "busybox:1.35"});
    ASSERT_TRUE(imported.ok()) << imported.status();
    image_ = (*imported)[0].target;
  }

  std::unique_ptr<TestRegistry> StartRegistry(const RegistryConfig& config = {}) {
    auto reg = TestRegistry::Start(config);
    EXPECT_TRUE(reg.ok()) << reg.status();
    return reg.ok() ? std::move(*reg) : nullptr;
  }

  Store source_;
  oci::Descriptor image_;
  cache::LeaseManager leases_;
  cache::Lease lease_ = leases_.NewLease();  // what the pushes send, as the engine holds it
};

TEST_F(PullPushTest, PushThenPullIntoEmptyStoreKeepsTheDigest) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  RegistryClient client(reg->host(), {}, {});
  oci::Reference dest = Ref(reg->host() + "/kiln/busybox:1.35");
  auto pushed = PushImage(client, *source_.images, "busybox:1.35", dest, lease_);
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  EXPECT_GT(pushed->blobs_uploaded, 0);
  EXPECT_GT(pushed->bytes_uploaded, 0);

  Store empty = MakeStore();
  RegistryClient client2(reg->host(), {}, {});
  auto pulled = PullImage(client2, dest, *empty.images);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->manifest_digest, pushed->manifest_digest);
  EXPECT_EQ(pulled->ref, dest.String());
  auto record = empty.images->Get(dest.String());
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->target.digest, pushed->manifest_digest);
  // The busybox layout's layers are gzip already: the exact manifest bytes went up.
  EXPECT_EQ(pushed->manifest_digest, image_.digest);

  // skopeo (containers/image) accepts what Kiln pushed.
  std::string out;
  ASSERT_EQ(tests::Run({"skopeo", "inspect", "--tls-verify=false",
                        "docker://" + reg->host() + "/kiln/busybox:1.35"},
                       &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr(pushed->manifest_digest.str()));
}

TEST_F(PullPushTest, SecondPushTransfersNoBlobBytesAndOtherRepoMounts) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  RegistryClient client(reg->host(), {}, {});
  auto first =
      PushImage(client, *source_.images, "busybox:1.35", Ref(reg->host() + "/a/bb:1"), lease_);
  ASSERT_TRUE(first.ok()) << first.status();
  auto again =
      PushImage(client, *source_.images, "busybox:1.35", Ref(reg->host() + "/a/bb:2"), lease_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->bytes_uploaded, 0);
  EXPECT_EQ(again->blobs_uploaded, 0);
  EXPECT_EQ(again->blobs_present, first->blobs_uploaded);
  auto other =
      PushImage(client, *source_.images, "busybox:1.35", Ref(reg->host() + "/b/bb:1"), lease_);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->bytes_uploaded, 0);
  EXPECT_EQ(other->blobs_mounted, first->blobs_uploaded);
}

TEST_F(PullPushTest, UncompressedLayersAreCompressedOnceAndChunked) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  std::string scratch = source_.dir.path() + "/scratch";
  ASSERT_EQ(::mkdir(scratch.c_str(), 0755), 0);
  oci::Descriptor raw = image::test_util::MakeImage(*source_.content, scratch, "hello", false);
  ASSERT_TRUE(source_.images->Put("local/raw:1", raw).ok());
  RegistryClient client(reg->host(), {}, {});
  PushOptions options;
  options.chunk_size = 100;  // forces PATCH chunks
  auto pushed = PushImage(client, *source_.images, "local/raw:1", Ref(reg->host() + "/r/raw:1"),
                          lease_, options);
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  EXPECT_NE(pushed->manifest_digest, raw.digest);
  int blobs = CountBlobs(*source_.content);
  auto zstd_opts = options;
  zstd_opts.compression = "zstd";
  auto again =
      PushImage(client, *source_.images, "local/raw:1", Ref(reg->host() + "/r/raw:2"), lease_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->manifest_digest, pushed->manifest_digest);  // the same gzip blob, reused
  EXPECT_EQ(CountBlobs(*source_.content), blobs);              // nothing compressed again
  auto zstd = PushImage(client, *source_.images, "local/raw:1", Ref(reg->host() + "/r/raw:z"),
                        lease_, zstd_opts);
  ASSERT_TRUE(zstd.ok()) << zstd.status();
  Store empty = MakeStore();
  auto pulled = PullImage(client, Ref(reg->host() + "/r/raw:z"), *empty.images);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  auto bytes = empty.content->ReadAll(pulled->manifest_digest);
  ASSERT_TRUE(bytes.ok());
  auto m = oci::ParseManifest(*bytes);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->layers[0].media_type, oci::kMediaTypeOciLayerZstd);
}

TEST_F(PullPushTest, TlsWithTheTestCa) {
  auto reg = StartRegistry({.tls = true});
  ASSERT_NE(reg, nullptr);
  HostOptions no_ca;
  no_ca.plain_http = false;
  RegistryClient untrusted(reg->host(), no_ca, {});
  auto refused =
      PushImage(untrusted, *source_.images, "busybox:1.35", Ref(reg->host() + "/t/bb:1"), lease_);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("certificate"));
  HostOptions with_ca;
  with_ca.tls.ca_files = {reg->ca_file()};
  RegistryClient trusted(reg->host(), with_ca, {});
  auto pushed =
      PushImage(trusted, *source_.images, "busybox:1.35", Ref(reg->host() + "/t/bb:1"), lease_);
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  Store empty = MakeStore();
  auto pulled = PullImage(trusted, Ref(reg->host() + "/t/bb:1"), *empty.images);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->manifest_digest, pushed->manifest_digest);
  std::string out;
  EXPECT_EQ(tests::Run({"skopeo", "inspect", "--cert-dir", reg->cert_dir(),
                        "docker://" + reg->host() + "/t/bb:1"},
                       &out),
            0)
      << out;
}

TEST_F(PullPushTest, BasicAuthWithHtpasswd) {
  auto reg = StartRegistry({.user = "kiln", .password = "s3cret-marker"});
  ASSERT_NE(reg, nullptr);
  RegistryClient anonymous(reg->host(), {}, {});
  auto refused =
      PushImage(anonymous, *source_.images, "busybox:1.35", Ref(reg->host() + "/p/bb:1"), lease_);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("HTTP 401 Unauthorized"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("Basic realm=\"kiln-test\""));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("kilnctl login"));

  RegistryClient wrong(reg->host(), {}, {.username = "kiln", .password = "nope"});
  auto denied =
      PushImage(wrong, *source_.images, "busybox:1.35", Ref(reg->host() + "/p/bb:1"), lease_);
  ASSERT_FALSE(denied.ok());
  EXPECT_THAT(std::string(denied.status().message()), HasSubstr("401"));
  EXPECT_THAT(std::string(denied.status().message()), Not(HasSubstr("nope")));

  RegistryClient client(reg->host(), {}, {.username = "kiln", .password = "s3cret-marker"});
  auto pushed =
      PushImage(client, *source_.images, "busybox:1.35", Ref(reg->host() + "/p/bb:1"), lease_);
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  Store empty = MakeStore();
  auto pulled = PullImage(client, Ref(reg->host() + "/p/bb:1"), *empty.images);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->manifest_digest, pushed->manifest_digest);
}

TEST_F(PullPushTest, BearerTokensFromTheRealmWithScopes) {
  auto reg = StartRegistry({.token_auth = true});
  ASSERT_NE(reg, nullptr);
  RegistryClient client(reg->host(), {}, {.username = "tok-user", .password = "pw"});
  auto pushed =
      PushImage(client, *source_.images, "busybox:1.35", Ref(reg->host() + "/b/bb:1"), lease_);
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  Store empty = MakeStore();
  auto pulled = PullImage(client, Ref(reg->host() + "/b/bb:1"), *empty.images);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  std::string log = ReadText(reg->token_log());
  EXPECT_THAT(log, HasSubstr("\"scope\": [\"repository:b/bb:pull,push\"]"));
  EXPECT_THAT(log, HasSubstr("\"scope\": [\"repository:b/bb:pull\"]"));
  EXPECT_THAT(log, HasSubstr("\"service\": [\"kiln-test\"]"));
  EXPECT_THAT(log, HasSubstr("\"basic_user\": \"tok-user\""));
  // Cached per scope, and fetched once even when parallel blob requests all get a 401.
  int lines = static_cast<int>(std::count(log.begin(), log.end(), '\n'));
  EXPECT_EQ(lines, 2) << log;

  // An identity token uses the OAuth2 POST form.
  RegistryClient oauth(reg->host(), {}, {.identity_token = "refresh-me"});
  Store other = MakeStore();
  ASSERT_TRUE(PullImage(oauth, Ref(reg->host() + "/b/bb:1"), *other.images).ok());
  log = ReadText(reg->token_log());
  EXPECT_THAT(log, HasSubstr("\"grant_type\": [\"refresh_token\"]"));
  EXPECT_THAT(log, HasSubstr("\"refresh_token\": [\"refresh-me\"]"));
}

TEST_F(PullPushTest, RedirectToAnotherHostDropsAuthorization) {
  auto reg = StartRegistry({.user = "kiln", .password = "pw"});
  ASSERT_NE(reg, nullptr);
  RegistryClient direct(reg->host(), {}, {.username = "kiln", .password = "pw"});
  ASSERT_TRUE(
      PushImage(direct, *source_.images, "busybox:1.35", Ref(reg->host() + "/f/bb:1"), lease_)
          .ok());
  std::string log_path;
  auto proxy = reg->StartProxy("redirect", &log_path, "kiln:pw");
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  std::string host = absl::StrCat("127.0.0.1:", (*proxy)->port());
  RegistryClient client(host, {}, {.username = "kiln", .password = "pw"});
  Store empty = MakeStore();
  auto r = PullImage(client, Ref(host + "/f/bb:1"), *empty.images);
  ASSERT_TRUE(r.ok()) << r.status();
  std::string log = ReadText(log_path);
  int redirected = 0;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("/redirected/v2/f/bb/blobs/") != std::string::npos) {
      ++redirected;
      EXPECT_THAT(line, HasSubstr("\"has_auth\": false")) << line;
      EXPECT_THAT(line, HasSubstr("\"host\": \"localhost:")) << line;
    } else if (line.find("/blobs/") != std::string::npos) {
      EXPECT_THAT(line, HasSubstr("\"has_auth\": true")) << line;  // the registry's own host
    }
  }
  EXPECT_GT(redirected, 0) << log;
}

class FaultTest : public PullPushTest {
 protected:
  void SetUp() override {
    PullPushTest::SetUp();
    reg_ = StartRegistry();
    ASSERT_NE(reg_, nullptr);
    RegistryClient client(reg_->host(), {}, {});
    auto pushed =
        PushImage(client, *source_.images, "busybox:1.35", Ref(reg_->host() + "/f/bb:1"), lease_);
    ASSERT_TRUE(pushed.ok()) << pushed.status();
  }
  // Pulls f/bb:1 through a proxy with `modes` into `into`.
  absl::StatusOr<PullResult> PullThrough(const std::string& modes, Store& into,
                                         std::string* log = nullptr) {
    std::string log_path;
    auto proxy = reg_->StartProxy(modes, &log_path);
    if (!proxy.ok()) return proxy.status();
    std::string host = absl::StrCat("127.0.0.1:", (*proxy)->port());
    HostOptions opts;
    opts.max_retry_wait = absl::Seconds(1);
    RegistryClient client(host, opts, {});
    auto r = PullImage(client, Ref(host + "/f/bb:1"), *into.images);
    if (log != nullptr) *log = ReadText(log_path);
    return r;
  }
  std::unique_ptr<TestRegistry> reg_;
};

TEST_F(FaultTest, CorruptBlobGivesDigestErrorAndStoresNothing) {
  Store empty = MakeStore();
  auto r = PullThrough("corrupt", empty);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("digest mismatch"));
  EXPECT_EQ(CountBlobs(*empty.content), 0);
  auto records = empty.images->List();
  ASSERT_TRUE(records.ok());
  EXPECT_TRUE(records->empty());
  std::string ingest;
  tests::Run({"find", empty.dir.path() + "/content", "-type", "f"}, &ingest);
  EXPECT_THAT(ingest, Not(HasSubstr("ingest/"))) << ingest;
}

TEST_F(FaultTest, CutTransferResumesWithRange) {
  Store empty = MakeStore();
  std::string log;
  auto r = PullThrough("cut", empty, &log);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(log, HasSubstr("\"range\": \"bytes="));
}

TEST_F(FaultTest, IgnoredRangeRestartsFromZero) {
  Store empty = MakeStore();
  std::string log;
  auto r = PullThrough("cut,ignore-range", empty, &log);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(log, HasSubstr("\"range\": \"bytes="));
}

TEST_F(FaultTest, TooManyRequestsIsRetriedAfterRetryAfter) {
  Store empty = MakeStore();
  std::string log;
  absl::Time start = absl::Now();
  auto r = PullThrough("429", empty, &log);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GE(absl::Now() - start, absl::Seconds(2));  // two waits of Retry-After: 1
}

TEST_F(FaultTest, Schema1IsRefusedClearly) {
  Store empty = MakeStore();
  auto r = PullThrough("schema1", empty);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("schema 1"));
}

TEST_F(FaultTest, ManifestOver4MiBIsRefused) {
  Store empty = MakeStore();
  auto r = PullThrough("bigmanifest", empty);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("larger than 4 MiB"));
}

TEST_F(FaultTest, IndexPlatformSelectionSkipsAttestationsAndListsPlatforms) {
  RegistryClient client(reg_->host(), {}, {});
  auto m = GetManifest(client, "f/bb", "1");
  ASSERT_TRUE(m.ok()) << m.status();
  oci::Index index;
  index.media_type = std::string(oci::kMediaTypeOciIndex);
  oci::Descriptor amd64 = m->descriptor;
  amd64.platform = oci::Platform{.architecture = "amd64", .os = "linux"};
  oci::Descriptor attestation = m->descriptor;
  attestation.platform = oci::Platform{.architecture = "unknown", .os = "unknown"};
  attestation.annotations["vnd.docker.reference.type"] = "attestation-manifest";
  index.manifests = {attestation, amd64};
  std::string bytes = oci::SerializeIndex(index);
  ASSERT_TRUE(PutManifest(client, "f/bb", "multi", oci::kMediaTypeOciIndex, bytes).ok());

  Store empty = MakeStore();
  auto pulled = PullImage(client, Ref(reg_->host() + "/f/bb:multi"), *empty.images);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->manifest_digest, m->descriptor.digest);

  PullOptions arm;
  arm.platform = oci::Platform{.architecture = "arm64", .os = "linux"};
  auto none = PullImage(client, Ref(reg_->host() + "/f/bb:multi"), *empty.images, arm);
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(std::string(none.status().message()), HasSubstr("linux/amd64"));
  EXPECT_THAT(std::string(none.status().message()), Not(HasSubstr("unknown/unknown")));

  // By digest: the index itself is verified and stored.
  std::string digest = base::Digest::Of(bytes).str();
  auto by_digest = PullImage(client, Ref(reg_->host() + "/f/bb@" + digest), *empty.images);
  ASSERT_TRUE(by_digest.ok()) << by_digest.status();
  EXPECT_EQ(by_digest->target.digest.str(), digest);
}

// The requests a proxy log holds, as "METHOD path" lines, from line `from` on.
std::vector<std::string> Requests(const std::string& log, size_t from = 0) {
  std::vector<std::string> out;
  std::istringstream in(log);
  std::string line;
  for (size_t n = 0; std::getline(in, line); ++n) {
    if (n < from) continue;
    auto field = [&](const std::string& key) {
      size_t at = line.find("\"" + key + "\": \"");
      if (at == std::string::npos) return std::string();
      at += key.size() + 5;
      return line.substr(at, line.find('"', at) - at);
    };
    out.push_back(field("method") + " " + field("path"));
  }
  return out;
}

TEST_F(FaultTest, PullAlwaysOnAnIndexTagRevalidatesWithOneRequestAndFetchesOnlyWhatIsMissing) {
  RegistryClient direct(reg_->host(), {}, {});
  auto m = GetManifest(direct, "f/bb", "1");
  ASSERT_TRUE(m.ok()) << m.status();
  oci::Descriptor amd64 = m->descriptor;
  amd64.platform = oci::Platform{.architecture = "amd64", .os = "linux"};
  oci::Index index;
  index.media_type = std::string(oci::kMediaTypeOciIndex);
  index.manifests = {amd64};
  ASSERT_TRUE(
      PutManifest(direct, "f/bb", "idx", oci::kMediaTypeOciIndex, oci::SerializeIndex(index)).ok());

  std::string log_path;
  auto proxy = reg_->StartProxy("", &log_path);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  std::string ref = absl::StrCat("127.0.0.1:", (*proxy)->port(), "/f/bb:idx");
  Store store = MakeStore();
  absl::Mutex mu;
  ImageTransfer transfer(store.images.get(), &mu, &leases_, {});
  image::StoreImageResolver inner(store.images.get());
  std::unique_ptr<ImageResolver> always = transfer.ResolverFor(&inner, PullPolicy::kAlways, {});

  // First use: the tag is not here, so the index, the manifest and every blob come down.
  auto first = always->Resolve(ref, "");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->manifest_digest, m->descriptor.digest);
  size_t seen = Requests(ReadText(log_path)).size();
  EXPECT_GT(seen, 3u);

  // Unchanged tag: one manifest HEAD and nothing else.
  auto second = always->Resolve(ref, "");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->manifest_digest, m->descriptor.digest);
  std::vector<std::string> again = Requests(ReadText(log_path), seen);
  EXPECT_THAT(again, ::testing::ElementsAre("HEAD /v2/f/bb/manifests/idx"));
  seen += again.size();

  // The tag moves to a new index that lists the same linux/amd64 manifest (plus an arm64
  // entry): the new index is fetched, the manifest and the blobs are not.
  oci::Descriptor arm64 = m->descriptor;
  arm64.platform = oci::Platform{.architecture = "arm64", .os = "linux"};
  index.manifests = {arm64, amd64};
  ASSERT_TRUE(
      PutManifest(direct, "f/bb", "idx", oci::kMediaTypeOciIndex, oci::SerializeIndex(index)).ok());
  auto third = always->Resolve(ref, "");
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->manifest_digest, m->descriptor.digest);
  std::vector<std::string> moved = Requests(ReadText(log_path), seen);
  EXPECT_THAT(moved,
              ::testing::ElementsAre("HEAD /v2/f/bb/manifests/idx", "GET /v2/f/bb/manifests/idx"));
}

TEST_F(FaultTest, SecondPushOfAnUnchangedImageIsOneManifestHead) {
  std::string log_path;
  auto proxy = reg_->StartProxy("", &log_path);
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  std::string host = absl::StrCat("127.0.0.1:", (*proxy)->port());
  RegistryClient client(host, {}, {});
  auto again = PushImage(client, *source_.images, "busybox:1.35", Ref(host + "/f/bb:1"), lease_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->manifest_digest, image_.digest);
  EXPECT_EQ(again->blobs_uploaded, 0);
  EXPECT_GT(again->blobs_present, 0);
  EXPECT_THAT(Requests(ReadText(log_path)), ::testing::ElementsAre("HEAD /v2/f/bb/manifests/1"));
  // Another tag of the same repository still gets its manifest (the blobs are HEADed).
  auto tagged = PushImage(client, *source_.images, "busybox:1.35", Ref(host + "/f/bb:2"), lease_);
  ASSERT_TRUE(tagged.ok()) << tagged.status();
  EXPECT_EQ(tagged->bytes_uploaded, 0);
  auto m = GetManifest(client, "f/bb", "2");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->descriptor.digest, image_.digest);
}

TEST_F(FaultTest, RegistryErrorBodyIsShownVerbatim) {
  RegistryClient client(reg_->host(), {}, {});
  Store empty = MakeStore();
  auto r = PullImage(client, Ref(reg_->host() + "/f/bb:missing"), *empty.images);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("MANIFEST_UNKNOWN"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("HTTP 404"));
}

TEST_F(PullPushTest, MirrorsFallBackInOrderAndKeepTheOriginalRef) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  RegistryClient client(reg->host(), {}, {});
  auto pushed = PushImage(client, *source_.images, "busybox:1.35",
                          Ref(reg->host() + "/mirror/f/bb:1"), lease_);
  ASSERT_TRUE(pushed.ok()) << pushed.status();
  HostOptions origin;
  // A dead mirror first (nothing listens on port 1), then the registry under a path prefix.
  origin.mirrors = {"127.0.0.1:1", reg->host() + "/mirror"};
  Store empty = MakeStore();
  absl::Mutex mu;
  ImageTransfer transfer(empty.images.get(), &mu, &leases_, {{"origin.invalid", origin}});
  auto pulled = transfer.Pull("origin.invalid/f/bb:1", oci::Platform::Default(), {});
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->ref, "origin.invalid/f/bb:1");
  EXPECT_EQ(pulled->manifest_digest, pushed->manifest_digest);
  ASSERT_TRUE(empty.images->Get("origin.invalid/f/bb:1").ok());

  // Every endpoint failing names the mirrors' failures and ends with the registry's.
  HostOptions dead;
  dead.mirrors = {"127.0.0.1:1"};
  ImageTransfer broken(empty.images.get(), &mu, &leases_, {{"127.0.0.1:2", dead}});
  auto failed = broken.Pull("127.0.0.1:2/f/bb:1", oci::Platform::Default(), {});
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(std::string(failed.status().message()), HasSubstr("mirror '127.0.0.1:1' failed"));
}

TEST(PullPolicyTest, ParsesTheThreePolicies) {
  EXPECT_EQ(*ParsePullPolicy(""), PullPolicy::kMissing);
  EXPECT_EQ(*ParsePullPolicy("missing"), PullPolicy::kMissing);
  EXPECT_EQ(*ParsePullPolicy("always"), PullPolicy::kAlways);
  EXPECT_EQ(*ParsePullPolicy("never"), PullPolicy::kNever);
  auto bad = ParsePullPolicy("newer");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("expected missing, always or never"));
}

}  // namespace
}  // namespace kiln::engine::registry
