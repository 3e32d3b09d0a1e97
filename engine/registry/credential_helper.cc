#include "engine/registry/credential_helper.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/status.h"
#include "base/unique_fd.h"

extern char** environ;

namespace kiln::engine::registry::internal {
namespace {

absl::Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::ErrnoError("write to credential helper");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace

absl::StatusOr<std::string> RunCredentialHelper(std::string_view helper, std::string_view verb,
                                                std::string_view input) {
  std::string program = absl::StrCat("docker-credential-", base::AsAbsl(helper));
  std::string what = absl::StrCat("credential helper '", program, " ", base::AsAbsl(verb), "'");
  int in[2];
  int out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return base::ErrnoError(what);
  base::UniqueFd in_r(in[0]), in_w(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) return base::ErrnoError(what);
  base::UniqueFd out_r(out[0]), out_w(out[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  std::string verb_s(verb);
  char* argv[] = {program.data(), verb_s.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return base::ErrnoError(rc, absl::StrCat(what, ": run (is it on PATH?)"));
  in_r.reset();
  out_w.reset();
  absl::Status wrote = WriteAll(in_w.get(), input);
  in_w.reset();
  std::string output = ReadAll(out_r.get());
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!wrote.ok()) return base::Annotate(wrote, what);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return output;
  std::string message(absl::StripAsciiWhitespace(output));
  if (absl::StrContains(message, "credentials not found")) {
    return absl::NotFoundError(absl::StrCat(what, ": ", message));
  }
  return absl::UnavailableError(absl::StrCat(what, " failed: ", message));
}

}  // namespace kiln::engine::registry::internal
