#include "base/digest.h"

#include <openssl/evp.h>
#include <xxhash.h>

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace kiln::base {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string HexOf(const unsigned char* raw, size_t n) {
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[raw[i] >> 4];
    out[2 * i + 1] = kHex[raw[i] & 0xf];
  }
  return out;
}

}  // namespace

absl::StatusOr<Digest> Digest::Parse(std::string_view text) {
  constexpr std::string_view kPrefix = "sha256:";
  if (text.substr(0, kPrefix.size()) != kPrefix) {
    return absl::InvalidArgumentError(
        absl::StrCat("parse digest '", std::string(text), "': expected 'sha256:<64 hex>'"));
  }
  std::string_view hex = text.substr(kPrefix.size());
  if (hex.size() != 64) {
    return absl::InvalidArgumentError(absl::StrCat("parse digest '", std::string(text),
                                                   "': expected 64 hex characters"));
  }
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parse digest '", std::string(text), "': expected lowercase hex characters"));
    }
  }
  Digest d;
  d.hex_ = std::string(hex);
  return d;
}

Digest Digest::FromRaw(const unsigned char raw[32]) {
  Digest d;
  d.hex_ = HexOf(raw, 32);
  return d;
}

Digest Digest::Of(std::string_view bytes) {
  Sha256 h;
  h.Update(bytes);
  return h.Finish();
}

// Fetched once: EVP_sha256() makes OpenSSL 3 look the implementation up on every init,
// which was a fifth of the solver's no-op CPU.
const EVP_MD* Sha256Md() {
  static const EVP_MD* md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? static_cast<const EVP_MD*>(fetched) : EVP_sha256();
  }();
  return md;
}

struct Sha256::Impl {
  EVP_MD_CTX* ctx = nullptr;
  Impl() {
    ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, Sha256Md(), nullptr);
  }
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Update(const void* data, size_t len) {
  if (len > 0) EVP_DigestUpdate(impl_->ctx, data, len);
}

Digest Sha256::Finish() {
  unsigned char raw[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(impl_->ctx, raw, &n);
  EVP_DigestInit_ex(impl_->ctx, Sha256Md(), nullptr);
  return Digest::FromRaw(raw);
}

std::string Xxh128::hex() const {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(high),
                static_cast<unsigned long long>(low));
  return buf;
}

Xxh128 Xxh128Of(const void* data, size_t len) {
  XXH128_hash_t h = XXH3_128bits(data, len);
  return Xxh128{h.high64, h.low64};
}

struct Xxh128Hasher::Impl {
  XXH3_state_t* state = XXH3_createState();
  Impl() { XXH3_128bits_reset(state); }
  ~Impl() { XXH3_freeState(state); }
};

Xxh128Hasher::Xxh128Hasher() : impl_(std::make_unique<Impl>()) {}
Xxh128Hasher::~Xxh128Hasher() = default;
Xxh128Hasher::Xxh128Hasher(Xxh128Hasher&&) noexcept = default;
Xxh128Hasher& Xxh128Hasher::operator=(Xxh128Hasher&&) noexcept = default;

void Xxh128Hasher::Update(const void* data, size_t len) {
  XXH3_128bits_update(impl_->state, data, len);
}

Xxh128 Xxh128Hasher::Finish() {
  XXH128_hash_t h = XXH3_128bits_digest(impl_->state);
  XXH3_128bits_reset(impl_->state);
  return Xxh128{h.high64, h.low64};
}

}  // namespace kiln::base
