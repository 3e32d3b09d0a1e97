// kilnctl debug graph: prints the build graph a Dockerfile lowers to.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/frontend/dockerignore.h"
#include "engine/frontend/lower.h"
#include "tools/kilnctl/command.h"

namespace kiln::tools {
namespace {

struct Options {
  std::string file = "Dockerfile";
  std::string context = ".";
  std::string target;
  std::vector<std::string> build_args;
  std::string format = "text";
};

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("open '", path, "': cannot read file"));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status Run(const Options& o) {
  absl::StatusOr<std::string> text = ReadAll(o.file);
  if (!text.ok()) return text.status();
  engine::AnyImageResolver resolver;
  engine::LowerOptions lo;
  lo.filename = o.file;
  lo.target = o.target;
  lo.resolver = &resolver;
  for (const std::string& kv : o.build_args) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      const char* v = std::getenv(kv.c_str());
      if (v != nullptr) lo.build_args[kv] = v;
      continue;
    }
    lo.build_args[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (absl::StatusOr<std::string> ig = ReadAll(o.context + "/.dockerignore"); ig.ok()) {
    lo.context_excludes = engine::ReadDockerignore(*ig);
  }
  absl::StatusOr<engine::LoweredBuild> b = engine::LowerDockerfileText(*text, lo);
  if (!b.ok()) return b.status();
  for (const std::string& w : b->warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  std::string out = o.format == "dot" ? engine::graph::RenderDot(b->graph)
                                      : engine::graph::RenderText(b->graph);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return absl::OkStatus();
}

CommandRegistrar registrar(500, [](CLI::App& root) {
  CLI::App* debug = SubcommandOf(root, "debug", "Debugging tools");
  CLI::App* cmd = debug->add_subcommand(
      "graph",
      "Print the build graph a Dockerfile lowers to: one line per op in topological order\n"
      "(short digest, kind, input digests, [stage step/total], instruction), or Graphviz DOT.\n"
      "Base images are not looked up: any image reference is accepted with an empty config\n"
      "and a digest derived from the reference text (no image store is consulted).");
  auto o = std::make_shared<Options>();
  cmd->add_option("-f,--file", o->file, "Dockerfile path (default: Dockerfile)");
  cmd->add_option("--target", o->target, "Build this stage (default: the last one)");
  cmd->add_option("--build-arg", o->build_args, "Set a build argument KEY=VALUE (repeatable)");
  cmd->add_option("--format", o->format, "text or dot")->check(CLI::IsMember({"text", "dot"}));
  cmd->add_option("context", o->context, "Build context directory, for .dockerignore (default: .)");
  cmd->callback([o] { ExitIfError(Run(*o)); });
});

}  // namespace
}  // namespace kiln::tools
