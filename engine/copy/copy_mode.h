// ChmodSpec: a --chmod value, octal ("0755") or symbolic ("u=rwx,go=rx", "+x", "g-w",
// "go=u-w", "a+X"), with the semantics BuildKit uses (BSD setmode(3), applied with a umask
// of 0 so the result never depends on the daemon's umask):
//   - who: any of u g o a; none means all.   op: + - =   perms: r w x X s t, or one of u g o
//     to copy that class's current bits ("g=u").
//   - '=' first clears the who bits (all but the sticky bit when who is empty), then adds.
//   - X adds execute only with '+', and only for a directory or an entry that had an execute
//     bit before the change.  s needs a who other than only 'o'; so does t.
//   - Clauses are separated by ',' and applied left to right; "u+x-w" chains operators.
// Immutable after Parse; thread-safe.
#ifndef KILN_ENGINE_COPY_COPY_MODE_H_
#define KILN_ENGINE_COPY_COPY_MODE_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::engine {

class ChmodSpec {
 public:
  // InvalidArgument ("invalid --chmod 'x': ...") for a malformed mode or an octal > 07777.
  static absl::StatusOr<ChmodSpec> Parse(std::string_view spec);

  // The new permission bits (07777) for an entry whose current mode is `mode`.
  mode_t Apply(mode_t mode, bool is_dir) const;

  const std::string& text() const { return text_; }

 private:
  struct Cmd {
    char op = '+';        // '+', '-', 'X' (conditional +), or 'u'/'g'/'o' (copy a class)
    uint8_t classes = 0;  // copy: target classes (4 = u, 2 = g, 1 = o)
    bool clear = false;   // copy: clear the target bits first ('-': the copied ones, '=': all)
    bool set = false;     // copy: set the copied bits ('+' or '=')
    mode_t bits = 0;      // '+', '-', 'X': the bits
  };
  // op '+', '-', '=', 'X' with the perm bits `arg`; or 'u'/'g'/'o' (copy) with the operator
  // as `arg`.
  void Add(char op, mode_t who, mode_t arg);

  std::string text_;
  std::vector<Cmd> cmds_;
};

}  // namespace kiln::engine

#endif  // KILN_ENGINE_COPY_COPY_MODE_H_
