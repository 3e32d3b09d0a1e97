// The build graph's operations: Source, Exec and File. Each op is a complete, self-describing
// value that an executor can run without knowing the Dockerfile, and has one canonical
// serialization (documented below) from which vertex digests are computed.
//
// Canonical serialization (version "kiln.op.v1"): a sequence of fields, each written as
//   <name> ' ' <decimal byte length> ':' <bytes> '\n'
// in the fixed order of the struct declarations below. Booleans are "0"/"1", integers are
// decimal, optional values that are absent are omitted (their presence is explicit), lists
// write a "<name>.n" count field first and then one field per element. Nested structs
// (mounts, actions) are serialized the same way inside a "<name>.begin"/"<name>.end" pair.
// Map-like data is always held in vectors in a defined order (env in definition order,
// patterns as written), so the bytes never depend on hash-map iteration order.
// Fields marked [meta] are NOT serialized (they do not change what the op produces).
// FileAction::link is written only when true, right after "parents", so that adding it kept
// every existing digest (a false flag and an absent one hash the same).
#ifndef KILN_ENGINE_GRAPH_OP_H_
#define KILN_ENGINE_GRAPH_OP_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "base/digest.h"

namespace kiln::engine::graph {

// A source of a filesystem tree. No inputs.
struct SourceOp {
  enum class Kind { kImage, kScratch, kLocal, kHttp, kGit };
  Kind kind = Kind::kScratch;
  std::string ref;                // image: normalized ref; local: "context"; http/git: URL
  base::Digest manifest_digest;   // image: resolved platform manifest (pins the content)
  std::string platform;           // image: "linux/amd64"
  std::vector<std::string> include_patterns;  // local: only these paths (empty = all)
  std::vector<std::string> exclude_patterns;  // local: .dockerignore + COPY --exclude
  std::string checksum;           // http: expected "sha256:..." (ADD --checksum), or empty
  std::string filename;           // http: file name to create (last URL path element)
  bool keep_git_dir = false;      // git
  // local: which directory (engine::ContextIdentity), so sources reading different
  // directories never share a digest; serialized only when set.
  std::string context_id;
};

// A mount for an Exec besides the root filesystem.
struct ExecMount {
  enum class Type { kBind, kCache, kTmpfs, kSecret, kSsh };
  Type type = Type::kBind;
  std::string target;       // absolute path in the container
  int input = -1;           // bind/cache: vertex input index providing the tree; -1 none
  std::string source;       // path inside that input ("/" default)
  bool readonly = false;    // bind default true; others false
  std::string cache_id;     // cache: id (defaults to target)
  std::string sharing;      // cache: shared | private | locked
  std::optional<uint32_t> mode;  // cache/secret/ssh
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  uint64_t size_bytes = 0;  // tmpfs: 0 = unlimited
  std::string id;           // secret/ssh id
  bool required = false;    // secret/ssh
  std::string env;          // secret: expose as env var
};

// Runs a process with input 0 as the root filesystem (copy-on-write); its output is the
// resulting root filesystem.
struct ExecOp {
  std::vector<std::string> args;  // argv (already shell-wrapped for shell form)
  std::vector<std::string> env;   // "K=V" in order; PATH always present
  std::string cwd = "/";
  std::string user;               // "" = root; "name", "uid", "uid:gid" as in USER
  std::string network = "sandbox";  // sandbox | none | host
  std::string security = "sandbox";  // sandbox | insecure
  std::vector<ExecMount> mounts;
  std::vector<std::string> proxy_env;  // [meta] HTTP_PROXY etc.: not part of the digest
};

struct Chown {
  std::string user;   // name or numeric id, resolved against the destination's /etc files
  std::string group;  // empty = user's primary group
  friend bool operator==(const Chown&, const Chown&) = default;
};

// One file operation on the destination tree (input 0 of the FileOp, or empty scratch).
struct FileAction {
  enum class Kind { kCopy, kMkdir, kMkfile, kRm };
  Kind kind = Kind::kCopy;
  // copy
  int src_input = -1;                  // vertex input providing the source tree
  std::vector<std::string> src_paths;  // paths inside the source (cleaned, absolute)
  bool allow_wildcard = true;          // src paths may contain *, ?, [..]
  bool allow_empty_wildcard = false;   // a wildcard matching nothing is not an error
  bool dir_contents_only = true;       // a source dir copies its contents (COPY semantics)
  bool follow_symlinks = true;         // resolve a symlinked source path itself
  bool create_dest_path = true;        // create missing parents of dest
  bool auto_extract = false;           // ADD: unpack local tar archives
  bool parents = false;                // COPY --parents: keep source parent dirs
  // COPY/ADD --link. Serialized only when true (so digests of every other copy are what they
  // were before the field existed), which makes a --link copy its own vertex. The files it
  // produces are the same as without --link: BuildKit copies onto an empty layer and links
  // it on top of the previous state, Kiln's executor may simply copy onto the previous state.
  // The only visible difference in BuildKit is that --link does not follow a symlink in the
  // destination path of the previous state (it creates real directories); Kiln records the
  // request so an executor can implement that, and the layer rebasing it allows, later.
  bool link = false;
  std::vector<std::string> excludes;   // COPY --exclude patterns
  // all kinds
  std::string path;                    // copy: dest (absolute; trailing '/' = directory)
  std::optional<Chown> chown;
  std::optional<uint32_t> mode;        // numeric --chmod / mkdir / mkfile mode
  std::string mode_string;             // symbolic --chmod (e.g. "u+x"), when not numeric
  bool make_parents = false;           // mkdir
  std::string data;                    // mkfile
};

struct FileOp {
  bool has_base = true;  // false: start from an empty tree (input indexes then start at 0)
  std::vector<FileAction> actions;
};

using Op = std::variant<SourceOp, ExecOp, FileOp>;

// The canonical bytes of `op` (see the top of this file). Deterministic; thread-safe.
std::string SerializeOp(const Op& op);

// Vertex digest: sha256 over "kiln.vertex.v1\n", the serialized op, and one line
// "input <digest>\n" per input in order.
base::Digest VertexDigest(const Op& op, const std::vector<base::Digest>& inputs);
// Same digest, inputs given by pointer (the graph passes its vertices' digests without
// copying them). Serializes into a per-thread buffer: no allocation once it has grown.
base::Digest VertexDigestOf(const Op& op, std::span<const base::Digest* const> inputs);

// "source", "exec" or "file".
const char* OpKindName(const Op& op);

}  // namespace kiln::engine::graph

#endif  // KILN_ENGINE_GRAPH_OP_H_
