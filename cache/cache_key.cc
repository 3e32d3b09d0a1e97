#include "cache/cache_key.h"

#include <string>

namespace kiln::cache {
namespace {

void PutLe(base::Sha256& h, uint64_t v, int bytes) {
  char b[8];
  for (int i = 0; i < bytes; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  h.Update(b, static_cast<size_t>(bytes));
}

// 32 raw bytes of a digest (all zero for an empty digest).
std::string RawOf(const base::Digest& d) {
  std::string raw(32, '\0');
  const std::string& hex = d.hex();
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i < 32 && 2 * i + 1 < hex.size(); ++i) {
    raw[i] = static_cast<char>((nibble(hex[2 * i]) << 4) | nibble(hex[2 * i + 1]));
  }
  return raw;
}

}  // namespace

CacheKeyBuilder::CacheKeyBuilder(std::string_view op_type) {
  hash_.Update(std::string_view("kiln.cachekey\0", 14));
  PutLe(hash_, kCacheKeyVersion, 4);
  PutLe(hash_, op_type.size(), 4);
  hash_.Update(op_type);
}

void CacheKeyBuilder::Field(char tag, std::string_view name, std::string_view value) {
  hash_.Update(&tag, 1);
  PutLe(hash_, name.size(), 4);
  hash_.Update(name);
  PutLe(hash_, value.size(), 8);
  hash_.Update(value);
  ++fields_;
}

CacheKeyBuilder& CacheKeyBuilder::String(std::string_view name, std::string_view value) {
  Field('s', name, value);
  return *this;
}

CacheKeyBuilder& CacheKeyBuilder::Bytes(std::string_view name, std::string_view value) {
  Field('b', name, value);
  return *this;
}

CacheKeyBuilder& CacheKeyBuilder::Int(std::string_view name, int64_t value) {
  char b[8];
  for (int i = 0; i < 8; ++i)
    b[i] = static_cast<char>((static_cast<uint64_t>(value) >> (8 * i)) & 0xff);
  Field('i', name, std::string_view(b, 8));
  return *this;
}

CacheKeyBuilder& CacheKeyBuilder::Input(const CacheKey& key) {
  Field('k', std::to_string(inputs_++), RawOf(key));
  return *this;
}

CacheKeyBuilder& CacheKeyBuilder::Digest(std::string_view name, const base::Digest& digest) {
  Field('d', name, RawOf(digest));
  return *this;
}

CacheKeyBuilder& CacheKeyBuilder::Xxh(std::string_view name, const base::Xxh128& value) {
  char b[16];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((value.high >> (8 * i)) & 0xff);
  for (int i = 0; i < 8; ++i) b[8 + i] = static_cast<char>((value.low >> (8 * i)) & 0xff);
  Field('x', name, std::string_view(b, 16));
  return *this;
}

CacheKey CacheKeyBuilder::Finish() {
  hash_.Update("\xff", 1);
  PutLe(hash_, fields_, 8);
  return hash_.Finish();
}

CacheKey ExecCacheKey(std::string_view def, const std::vector<MountContent>& mounts,
                      const std::vector<CacheKey>& keyed_inputs) {
  CacheKeyBuilder b("exec");
  b.Bytes("def", def);
  for (const MountContent& m : mounts) b.Int("mount", m.mount).String("mount.content", m.content);
  for (const CacheKey& k : keyed_inputs) b.Input(k);
  return b.Finish();
}

CacheKey FileCacheKey(std::string_view def, const CacheKey& dest,
                      const std::vector<CopyContent>& copies) {
  CacheKeyBuilder b("file");
  b.Bytes("def", def).Input(dest);
  for (const CopyContent& c : copies) {
    b.Int("copy", c.action);
    for (const std::string& part : c.parts) b.String("copy.content", part);
  }
  return b.Finish();
}

CacheKey ImageSourceCacheKey(const base::Digest& manifest) {
  return CacheKeyBuilder("source.image").Digest("manifest", manifest).Finish();
}

CacheKey LocalSourceCacheKey(std::string_view def) {
  return CacheKeyBuilder("source.local").Bytes("def", def).Finish();
}

CacheKey ScratchCacheKey() { return CacheKeyBuilder("source.scratch").Finish(); }

}  // namespace kiln::cache
