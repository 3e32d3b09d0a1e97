#include "engine/copy/copy_mode.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"

namespace kiln::engine {
namespace {

constexpr mode_t kStandardBits = S_ISUID | S_ISGID | S_IRWXU | S_IRWXG | S_IRWXO;

mode_t WhoBits(char c) {
  switch (c) {
    case 'a': return kStandardBits;
    case 'u': return S_ISUID | S_IRWXU;
    case 'g': return S_ISGID | S_IRWXG;
    case 'o': return S_IRWXO;
    default: return 0;
  }
}

}  // namespace

void ChmodSpec::Add(char op, mode_t who, mode_t arg) {
  if (op == 'u' || op == 'g' || op == 'o') {  // copy a class; `arg` is the operator
    Cmd c;
    c.op = op;
    c.classes = who == 0 ? 7
                         : static_cast<uint8_t>(((who & S_IRUSR) ? 4 : 0) |
                                                ((who & S_IRGRP) ? 2 : 0) | ((who & S_IROTH) ? 1 : 0));
    c.clear = arg == '-' || arg == '=';
    c.set = arg == '+' || arg == '=';
    cmds_.push_back(c);
    return;
  }
  if (op == '=') {
    cmds_.push_back(Cmd{'-', 0, false, false, who != 0 ? who : kStandardBits});
    op = '+';
  }
  // With a umask of 0 an empty `who` affects every bit the perms name.
  cmds_.push_back(Cmd{op, 0, false, false, who != 0 ? (who & arg) : arg});
}

absl::StatusOr<ChmodSpec> ChmodSpec::Parse(std::string_view spec) {
  ChmodSpec out;
  out.text_ = std::string(spec);
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid --chmod '", std::string(spec), "': ", std::string(why),
        "; expected an octal mode (0755) or a symbolic mode like u+x or u=rwx,go=rx"));
  };
  if (spec.empty()) return bad("empty mode");
  if (spec[0] >= '0' && spec[0] <= '9') {
    mode_t v = 0;
    for (char c : spec) {
      if (c < '0' || c > '7') return bad("not an octal number");
      v = v * 8 + static_cast<mode_t>(c - '0');
      if (v > 07777) return bad("octal mode above 07777");
    }
    out.Add('=', kStandardBits | S_ISVTX, v);
    return out;
  }
  const size_t n = spec.size();
  size_t i = 0;
  auto peek = [&] { return i < n ? spec[i] : '\0'; };
  while (true) {
    mode_t who = 0;
    for (; WhoBits(peek()) != 0; ++i) who |= WhoBits(peek());
    bool equal_done = false;
    do {  // one or more "op perms" for this who ("u+x-w")
      char op = peek();
      if (op != '+' && op != '-' && op != '=') {
        return bad(i < n ? absl::StrCat("unexpected '", std::string(1, op), "'")
                         : std::string("missing operator (+, - or =)"));
      }
      ++i;
      if (op == '=') equal_done = false;
      who &= ~static_cast<mode_t>(S_ISVTX);
      mode_t perm = 0, perm_x = 0;
      for (;; ++i) {
        char c = peek();
        if (c == 'r') {
          perm |= S_IRUSR | S_IRGRP | S_IROTH;
        } else if (c == 'w') {
          perm |= S_IWUSR | S_IWGRP | S_IWOTH;
        } else if (c == 'x') {
          perm |= S_IXUSR | S_IXGRP | S_IXOTH;
        } else if (c == 'X') {
          if (op == '+') perm_x = S_IXUSR | S_IXGRP | S_IXOTH;
        } else if (c == 's') {
          if (who == 0 || (who & ~static_cast<mode_t>(S_IRWXO)) != 0) perm |= S_ISUID | S_ISGID;
        } else if (c == 't') {
          if (who == 0 || (who & ~static_cast<mode_t>(S_IRWXO)) != 0) {
            who |= S_ISVTX;
            perm |= S_ISVTX;
          }
        } else if (c == 'u' || c == 'g' || c == 'o') {
          if (perm != 0) out.Add(op, who, perm);
          perm = 0;
          if (op == '=') equal_done = true;
          if (perm_x != 0) out.Add('X', who, perm_x);
          perm_x = 0;
          out.Add(c, who, static_cast<mode_t>(op));
        } else {
          break;
        }
      }
      if (perm != 0 || (op == '=' && !equal_done)) {
        if (op == '=') equal_done = true;
        out.Add(op, who, perm);
      }
      if (perm_x != 0) out.Add('X', who, perm_x);
    } while (i < n && spec[i] != ',');
    if (i == n) break;
    ++i;  // ','
    if (i == n) return bad("ends with ','");
  }
  return out;
}

mode_t ChmodSpec::Apply(mode_t mode, bool is_dir) const {
  const mode_t old = mode & 07777;
  mode_t m = old;
  for (const Cmd& c : cmds_) {
    switch (c.op) {
      case '+':
        m |= c.bits;
        break;
      case '-':
        m &= ~c.bits;
        break;
      case 'X':
        if ((old & (S_IXUSR | S_IXGRP | S_IXOTH)) != 0 || is_dir) m |= c.bits;
        break;
      default: {  // copy the bits of class c.op to the target classes
        int from = c.op == 'u' ? 6 : (c.op == 'g' ? 3 : 0);
        mode_t value = (m >> from) & 07;
        mode_t clear = c.set ? 07 : value;
        for (int shift : {6, 3, 0}) {
          if ((c.classes & (1 << (shift / 3))) == 0) continue;
          if (c.clear) m &= ~(clear << shift);
          if (c.set) m |= value << shift;
        }
      }
    }
  }
  return m & 07777;
}

}  // namespace kiln::engine
