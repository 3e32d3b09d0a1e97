// Reading the files a build starts from: the Dockerfile and its ignore file. The daemon runs as
// root for callers who may not read everything, so both are opened only through an fd of
// their directory, never by joining strings: a name must stay inside its directory, and a
// symlink is followed only while it stays inside too.
//
// The ignore file follows BuildKit's dockerui rule: `<dockerfile name>.dockerignore` next to
// the Dockerfile wins, else the context's `.dockerignore`. An ignore file that is a symlink
// leading out of the context reads as absent (moby/moby#42108); one to a file inside the
// context is followed (moby/buildkit#739).
//
// Thread-safety: the functions are reentrant.
#ifndef KILN_ENGINE_CORE_BUILD_FILES_H_
#define KILN_ENGINE_CORE_BUILD_FILES_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::engine {

struct BuildFiles {
  std::string dockerfile_text;
  std::string dockerfile_path;        // where the Dockerfile really is (links resolved)
  std::vector<std::string> excludes;  // ignore patterns (ReadDockerignore), empty without one
  std::string ignore_path;            // where the ignore file really is; "" without one
  std::string context_id;             // ContextIdentity of the context directory
};

// What identifies the build context directory `context_dir` (absolute, as the client sent
// it) for as long as it exists: "<dev>:<inode>:<path>" of the directory. It goes into the
// local source's op (LowerOptions::context_id), so builds from different directories never
// share the local source, nor any step that reads it, in the solver's single-flight; copies
// from it still key on the content they read. Errors: InvalidArgument for a relative path,
// errno errors from opening or stating the directory.
absl::StatusOr<std::string> ContextIdentity(const std::string& context_dir);

// InvalidArgument "filename '<name>': must be a name inside the dockerfile directory (no
// leading '/', no '..')" unless `name` is a non-empty relative path without a ".." component.
absl::Status CheckDockerfileName(std::string_view name);

// Reads the Dockerfile `name` (default "Dockerfile") under `dockerfile_dir` (default: the
// context) and the ignore file. Both directories must be absolute. Errors: InvalidArgument for
// a bad name; NotFound "read Dockerfile 'name': ..." when it is missing; PermissionDenied
// "read Dockerfile 'name': the name leads outside 'dir'" for a link out of the directory;
// InvalidArgument when it is not a regular file; other errno errors from open and read.
absl::StatusOr<BuildFiles> ReadBuildFiles(const std::string& context_dir,
                                          const std::string& dockerfile_dir,
                                          const std::string& name);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_CORE_BUILD_FILES_H_
