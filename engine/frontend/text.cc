#include "engine/frontend/text.h"

#include <locale.h>
#include <wctype.h>

namespace kiln::engine::internal {
namespace {

locale_t Utf8Locale() {
  static locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return loc;
}

}  // namespace

char32_t DecodeMultiByteRune(std::string_view s, size_t pos, size_t* width) {
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[pos + i]); };
  unsigned char c = b(0);
  *width = 1;
  if (c < 0x80) return c;
  const char32_t bad = kInvalidByte | c;
  size_t n = 0;
  char32_t r = 0;
  char32_t min = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2, r = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, r = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, r = c & 0x07, min = 0x10000;
  } else {
    return bad;
  }
  if (pos + n > s.size()) return bad;
  for (size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xC0) != 0x80) return bad;
    r = (r << 6) | (b(i) & 0x3F);
  }
  if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) return bad;
  *width = n;
  return r;
}

void AppendMultiByteRune(std::string& out, char32_t r) {
  if (r >= kInvalidByte) {
    out.push_back(static_cast<char>(r & 0xFF));
  } else if (r < 0x80) {
    out.push_back(static_cast<char>(r));
  } else if (r < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (r >> 6)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else if (r < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (r >> 12)));
    out.push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (r >> 18)));
    out.push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  }
}

bool IsNonAsciiSpace(char32_t r) {
  switch (r) {
    case '\t': case '\n': case '\v': case '\f': case '\r': case ' ': case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return r >= 0x2000 && r <= 0x200A;
  }
}

bool IsLetter(char32_t r) {
  if (r < 0x80) return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
  if (r >= kInvalidByte) return false;
  locale_t loc = Utf8Locale();
  return loc != static_cast<locale_t>(nullptr) && iswalpha_l(static_cast<wint_t>(r), loc) &&
         !iswdigit_l(static_cast<wint_t>(r), loc);
}

bool IsDigit(char32_t r) { return r >= '0' && r <= '9'; }

std::string GoQuote(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    size_t w = 0;
    char32_t r = DecodeRune(s, i, &w);
    if (r >= kInvalidByte) {
      out += "\\x";
      out.push_back(kHex[(r >> 4) & 0xF]);
      out.push_back(kHex[r & 0xF]);
    } else if (r == '"' || r == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(r));
    } else if (r >= 0x20 && r < 0x7F) {
      out.push_back(static_cast<char>(r));
    } else if (r < 0x20 || r == 0x7F) {
      switch (r) {
        case '\a': out += "\\a"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\v': out += "\\v"; break;
        default:
          out += "\\x";
          out.push_back(kHex[r >> 4]);
          out.push_back(kHex[r & 0xF]);
      }
    } else if (r < 0xA0 || r == 0xAD || (r >= 0xFFF9 && r <= 0xFFFB) || r == 0xFEFF ||
               (r >= 0x200B && r <= 0x200F) || (r >= 0x2028 && r <= 0x202E)) {
      char buf[16];
      int n = 0;
      if (r < 0x10000) {
        out += "\\u";
        n = 4;
      } else {
        out += "\\U";
        n = 8;
      }
      for (int k = n - 1; k >= 0; --k) buf[n - 1 - k] = kHex[(r >> (4 * k)) & 0xF];
      out.append(buf, static_cast<size_t>(n));
    } else {
      out.append(s.substr(i, w));
    }
    i += w;
  }
  out.push_back('"');
  return out;
}

std::string_view TrimLeftSpace(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t w = 0;
    char32_t r = DecodeRune(s, i, &w);
    if (!IsSpace(r)) break;
    i += w;
  }
  return s.substr(i);
}

std::string_view TrimSpace(std::string_view s) {
  s = TrimLeftSpace(s);
  // Trailing: the Go space set's multi-byte members end in bytes that are never ASCII, so
  // scan back over ASCII spaces and the known multi-byte encodings.
  while (!s.empty()) {
    unsigned char c = static_cast<unsigned char>(s.back());
    if (c == ' ' || (c >= '\t' && c <= '\r')) {
      s.remove_suffix(1);
      continue;
    }
    bool trimmed = false;
    for (size_t n = 2; n <= 3 && !trimmed; ++n) {
      if (s.size() < n) break;
      size_t w = 0;
      char32_t r = DecodeRune(s, s.size() - n, &w);
      if (w == n && IsSpace(r)) {
        s.remove_suffix(n);
        trimmed = true;
      }
    }
    if (!trimmed) break;
  }
  return s;
}

}  // namespace kiln::engine::internal
