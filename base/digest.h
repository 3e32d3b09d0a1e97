// Content digests.
//
// Digest is an OCI-style "sha256:<64 hex>" value (OpenSSL). Xxh128 is a fast
// non-cryptographic 128-bit checksum (xxHash XXH3-128) for internal caches, never for
// anything an attacker can choose to collide.
#ifndef KILN_BASE_DIGEST_H_
#define KILN_BASE_DIGEST_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::base {

class Digest {
 public:
  Digest() = default;

  // Parses "sha256:<64 lowercase hex>". InvalidArgument otherwise.
  static absl::StatusOr<Digest> Parse(std::string_view text);
  // Digest of a byte string.
  static Digest Of(std::string_view bytes);
  // From 32 raw bytes.
  static Digest FromRaw(const unsigned char raw[32]);

  bool empty() const { return hex_.empty(); }
  const std::string& hex() const { return hex_; }
  std::string str() const { return empty() ? std::string() : "sha256:" + hex_; }
  // First 12 hex characters, as docker prints.
  std::string short_hex() const { return hex_.substr(0, 12); }

  friend bool operator==(const Digest&, const Digest&) = default;
  friend auto operator<=>(const Digest& a, const Digest& b) { return a.hex_ <=> b.hex_; }
  template <typename H>
  friend H AbslHashValue(H h, const Digest& d) {
    return H::combine(std::move(h), d.hex_);
  }

 private:
  std::string hex_;
};

// Streaming SHA-256. Not thread-safe; one per stream.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(const void* data, size_t len);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // Returns the digest; the hasher is reset and may be reused.
  Digest Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct Xxh128 {
  uint64_t high = 0;
  uint64_t low = 0;
  std::string hex() const;  // 32 hex chars
  friend bool operator==(const Xxh128&, const Xxh128&) = default;
};

Xxh128 Xxh128Of(const void* data, size_t len);
inline Xxh128 Xxh128Of(std::string_view s) { return Xxh128Of(s.data(), s.size()); }

// Streaming XXH3-128. Not thread-safe.
class Xxh128Hasher {
 public:
  Xxh128Hasher();
  ~Xxh128Hasher();
  Xxh128Hasher(Xxh128Hasher&&) noexcept;
  Xxh128Hasher& operator=(Xxh128Hasher&&) noexcept;
  void Update(const void* data, size_t len);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  Xxh128 Finish();  // resets

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::base

#endif  // KILN_BASE_DIGEST_H_
