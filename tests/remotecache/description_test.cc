// The cache description: round trip, validation of corrupt input, merging (newest wins per
// key), and the speed of a 10,000-record import.
#include "engine/remotecache/description.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kiln::engine::remotecache {
namespace {

using ::testing::HasSubstr;

base::Digest D(std::string_view s) { return base::Digest::Of(s); }

CacheDescription Sample() {
  CacheDescription d;
  d.layers.push_back({D("blob0"), D("diff0"), 10, "application/vnd.oci.image.layer.v1.tar+gzip"});
  d.layers.push_back({D("blob1"), D("diff1"), 20, "application/vnd.oci.image.layer.v1.tar+gzip"});
  d.records.push_back({D("key-from"), {0}, 100, "FROM busybox"});
  d.records.push_back({D("key-run"), {0, 1}, 200, "RUN make"});
  d.records.push_back({D("key-scratch"), {}, 0, "FROM scratch"});
  return d;
}

TEST(DescriptionTest, RoundTripsThroughStreams) {
  CacheDescription d = Sample();
  std::stringstream s;
  ASSERT_TRUE(EncodeDescription(d, s).ok());
  auto back = DecodeDescription(s, "test");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->layers, d.layers);
  EXPECT_EQ(back->records, d.records);
  EXPECT_THAT(EncodeDescription(d), HasSubstr(std::string(kDescriptionMediaType)));
}

TEST(DescriptionTest, CorruptInputIsDataLossNamingTheProblem) {
  std::string good = EncodeDescription(Sample());
  struct Case {
    std::string text;
    std::string want;
  } cases[] = {
      {"{not json", "not valid JSON"},
      {"[]", "not a JSON object"},
      {R"({"mediaType":"application/vnd.oci.image.config.v1+json","version":1,"layers":[],"records":[]})",
       "mediaType is not"},
      {R"({"mediaType":"application/vnd.kiln.cache.description.v1+json","version":2,"layers":[],"records":[]})",
       "version is not 1"},
      {R"({"mediaType":"application/vnd.kiln.cache.description.v1+json","version":1,"layers":[],"records":[{"key":"sha256:)" +
           D("k").hex() + R"(","chain":[0]}]})",
       "layer index out of range"},
      {R"({"mediaType":"application/vnd.kiln.cache.description.v1+json","version":1,"layers":[],"records":[{"key":"sha256:xyz","chain":[]}]})",
       "'key'"},
      {good.substr(0, good.size() / 2), "not valid JSON"},
  };
  for (const Case& c : cases) {
    auto d = DecodeDescription(c.text, "cfg");
    ASSERT_FALSE(d.ok()) << c.text;
    EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss) << c.text;
    EXPECT_THAT(d.status().message(), HasSubstr(c.want)) << c.text;
    EXPECT_THAT(d.status().message(), HasSubstr("'cfg'"));
  }
}

TEST(DescriptionTest, MergeKeepsBothSidesAndTheNewestPerKey) {
  CacheDescription a = Sample();
  CacheDescription b;
  b.layers.push_back({D("blob9"), D("diff9"), 90, "application/vnd.oci.image.layer.v1.tar"});
  b.layers.push_back(a.layers[0]);
  b.records.push_back({D("key-run"), {1, 0}, 300, "RUN make (newer)"});   // newer: wins
  b.records.push_back({D("key-from"), {1}, 50, "FROM busybox (older)"});  // older: loses
  b.records.push_back({D("key-other"), {0}, 10, "RUN other"});
  CacheDescription m = MergeDescriptions(a, b);
  std::map<std::string, std::vector<base::Digest>> chains;
  std::map<std::string, std::string> names;
  for (const CacheEntry& e : m.records) {
    for (size_t i : e.chain) chains[e.key.str()].push_back(m.layers.at(i).digest);
    names[e.key.str()] = e.description;
  }
  ASSERT_EQ(m.records.size(), 4u);
  EXPECT_EQ(names[D("key-run").str()], "RUN make (newer)");
  EXPECT_EQ(chains[D("key-run").str()], (std::vector<base::Digest>{D("blob0"), D("blob9")}));
  EXPECT_EQ(names[D("key-from").str()], "FROM busybox");
  EXPECT_EQ(chains[D("key-other").str()], (std::vector<base::Digest>{D("blob9")}));
  EXPECT_EQ(names[D("key-scratch").str()], "FROM scratch");
  // blob1 is no longer used by any record: dropped; every layer once.
  EXPECT_EQ(m.layers.size(), 2u);
}

TEST(DescriptionTest, TenThousandRecordsDecodeWellUnderASecond) {
  CacheDescription d;
  for (int i = 0; i < 10000; ++i) {
    d.layers.push_back({D(absl::StrCat("b", i)), D(absl::StrCat("d", i)), i, "application/x"});
    CacheEntry e{D(absl::StrCat("k", i)), {}, i, absl::StrCat("RUN step ", i)};
    for (int j = std::max(0, i - 5); j <= i; ++j) e.chain.push_back(static_cast<size_t>(j));
    d.records.push_back(std::move(e));
  }
  std::string text = EncodeDescription(d);
  EXPECT_GT(text.size(), size_t{1} << 20);  // over BuildKit's 1 MiB cap
  absl::Time start = absl::Now();
  auto back = DecodeDescription(text, "big");
  absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->records.size(), 10000u);
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
  // Unoptimized ASan builds parse JSON about 30x slower than a release build.
  EXPECT_LT(took, absl::Seconds(10));
#else
  EXPECT_LT(took, absl::Seconds(1));
#endif
}

}  // namespace
}  // namespace kiln::engine::remotecache
