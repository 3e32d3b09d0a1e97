// Small text helpers shared by the Dockerfile parser and shell lexer: UTF-8 decoding and the
// Go-compatible character classes (unicode.IsSpace / IsLetter / IsDigit) those components
// must reproduce to match BuildKit byte for byte. Pure functions; thread-safe.
#ifndef KILN_ENGINE_FRONTEND_TEXT_H_
#define KILN_ENGINE_FRONTEND_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace kiln::engine::internal {

// Marks a byte that is not valid UTF-8: DecodeRune returns kInvalidByte | byte for it, and
// AppendRune writes the byte back unchanged, so arbitrary bytes survive a round trip.
inline constexpr char32_t kInvalidByte = 0x110000;

// Out-of-line halves of the inline functions below (non-ASCII input).
char32_t DecodeMultiByteRune(std::string_view s, size_t pos, size_t* width);
void AppendMultiByteRune(std::string& out, char32_t r);
bool IsNonAsciiSpace(char32_t r);

// Decodes the UTF-8 sequence at s[pos] (pos < s.size()). Sets *width to the bytes consumed.
inline char32_t DecodeRune(std::string_view s, size_t pos, size_t* width) {
  const unsigned char c = static_cast<unsigned char>(s[pos]);
  if (c < 0x80) {
    *width = 1;
    return c;
  }
  return DecodeMultiByteRune(s, pos, width);
}

// Appends `r` encoded as UTF-8 (or the raw byte for kInvalidByte | byte).
inline void AppendRune(std::string& out, char32_t r) {
  if (r < 0x80) {
    out.push_back(static_cast<char>(r));
  } else {
    AppendMultiByteRune(out, r);
  }
}

// Go's unicode.IsSpace.
inline bool IsSpace(char32_t r) {
  if (r < 0x80) return r == ' ' || (r >= '\t' && r <= '\r');
  return IsNonAsciiSpace(r);
}
// Go's unicode.IsLetter / IsDigit (ASCII exact; other code points via the C.UTF-8 locale).
bool IsLetter(char32_t r);
bool IsDigit(char32_t r);

// Go's strconv.Quote (printable non-ASCII kept literally).
std::string GoQuote(std::string_view s);

// strings.TrimSpace with unicode.IsSpace.
std::string_view TrimSpace(std::string_view s);
std::string_view TrimLeftSpace(std::string_view s);

}  // namespace kiln::engine::internal

#endif  // KILN_ENGINE_FRONTEND_TEXT_H_
