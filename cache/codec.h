// Internal: a tiny length-prefixed binary encoding for LMDB values.
//
// Integers are fixed-width little-endian; strings are a u32 length followed by the bytes.
// A Decoder never reads past its input: every getter returns false on truncation, and the
// caller turns that into DataLoss. Not thread-safe (plain values).
#ifndef KILN_CACHE_CODEC_H_
#define KILN_CACHE_CODEC_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace kiln::cache::internal {

class Encoder {
 public:
  Encoder& U64(uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    out_.append(b, 8);
    return *this;
  }
  Encoder& I64(int64_t v) { return U64(static_cast<uint64_t>(v)); }
  Encoder& Str(std::string_view s) {
    uint32_t n = static_cast<uint32_t>(s.size());
    char b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out_.append(b, 4);
    out_.append(s.data(), s.size());
    return *this;
  }
  const std::string& bytes() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}
  bool U64(uint64_t* v) {
    if (in_.size() < 8) return false;
    uint64_t r = 0;
    for (int i = 0; i < 8; ++i)
      r |= static_cast<uint64_t>(static_cast<unsigned char>(in_[i])) << (8 * i);
    in_.remove_prefix(8);
    *v = r;
    return true;
  }
  bool I64(int64_t* v) {
    uint64_t u = 0;
    if (!U64(&u)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool Str(std::string* s) {
    if (in_.size() < 4) return false;
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i)
      n |= static_cast<uint32_t>(static_cast<unsigned char>(in_[i])) << (8 * i);
    in_.remove_prefix(4);
    if (in_.size() < n) return false;
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace kiln::cache::internal

#endif  // KILN_CACHE_CODEC_H_
