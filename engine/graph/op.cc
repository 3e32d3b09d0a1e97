#include "engine/graph/op.h"

#include <charconv>

#include "absl/strings/str_cat.h"

namespace kiln::engine::graph {
namespace {

class Writer {
 public:
  Writer() { out_.reserve(512); }
  void Str(std::string_view name, std::string_view v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v.size());
    (void)ec;
    out_.append(name);
    out_.push_back(' ');
    out_.append(buf, static_cast<size_t>(end - buf));
    out_.push_back(':');
    out_.append(v);
    out_.push_back('\n');
  }
  void Bool(std::string_view name, bool v) { Str(name, v ? "1" : "0"); }
  void Int(std::string_view name, uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    (void)ec;
    Str(name, std::string_view(buf, static_cast<size_t>(end - buf)));
  }
  void SInt(std::string_view name, int64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    (void)ec;
    Str(name, std::string_view(buf, static_cast<size_t>(end - buf)));
  }
  void Opt(std::string_view name, const std::optional<uint32_t>& v) {
    if (v) Int(name, *v);
  }
  void List(std::string_view name, const std::vector<std::string>& v) {
    std::string count(name);
    count += ".n";
    Int(count, v.size());
    for (const std::string& s : v) Str(name, s);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

void WriteSource(Writer& w, const SourceOp& s) {
  w.Str("op", "source");
  w.Int("kind", static_cast<uint64_t>(s.kind));
  w.Str("ref", s.ref);
  w.Str("manifest_digest", s.manifest_digest.str());
  w.Str("platform", s.platform);
  w.List("include", s.include_patterns);
  w.List("exclude", s.exclude_patterns);
  w.Str("checksum", s.checksum);
  w.Str("filename", s.filename);
  w.Bool("keep_git_dir", s.keep_git_dir);
}

void WriteMount(Writer& w, const ExecMount& m) {
  w.Str("mount.begin", "");
  w.Int("type", static_cast<uint64_t>(m.type));
  w.Str("target", m.target);
  w.SInt("input", m.input);
  w.Str("source", m.source);
  w.Bool("readonly", m.readonly);
  w.Str("cache_id", m.cache_id);
  w.Str("sharing", m.sharing);
  w.Opt("mode", m.mode);
  w.Opt("uid", m.uid);
  w.Opt("gid", m.gid);
  w.Int("size", m.size_bytes);
  w.Str("id", m.id);
  w.Bool("required", m.required);
  w.Str("env", m.env);
  w.Str("mount.end", "");
}

void WriteExec(Writer& w, const ExecOp& e) {
  w.Str("op", "exec");
  w.List("args", e.args);
  w.List("env", e.env);
  w.Str("cwd", e.cwd);
  w.Str("user", e.user);
  w.Str("network", e.network);
  w.Str("security", e.security);
  w.Int("mounts.n", e.mounts.size());
  for (const ExecMount& m : e.mounts) WriteMount(w, m);
}

void WriteAction(Writer& w, const FileAction& a) {
  w.Str("action.begin", "");
  w.Int("kind", static_cast<uint64_t>(a.kind));
  w.SInt("src_input", a.src_input);
  w.List("src", a.src_paths);
  w.Bool("allow_wildcard", a.allow_wildcard);
  w.Bool("allow_empty_wildcard", a.allow_empty_wildcard);
  w.Bool("dir_contents_only", a.dir_contents_only);
  w.Bool("follow_symlinks", a.follow_symlinks);
  w.Bool("create_dest_path", a.create_dest_path);
  w.Bool("auto_extract", a.auto_extract);
  w.Bool("parents", a.parents);
  w.List("excludes", a.excludes);
  w.Str("path", a.path);
  if (a.chown) {
    w.Str("chown.user", a.chown->user);
    w.Str("chown.group", a.chown->group);
  }
  w.Opt("mode", a.mode);
  w.Str("mode_string", a.mode_string);
  w.Bool("make_parents", a.make_parents);
  w.Str("data", a.data);
  w.Str("action.end", "");
}

}  // namespace

std::string SerializeOp(const Op& op) {
  Writer w;
  w.Str("version", "kiln.op.v1");
  if (const auto* s = std::get_if<SourceOp>(&op)) {
    WriteSource(w, *s);
  } else if (const auto* e = std::get_if<ExecOp>(&op)) {
    WriteExec(w, *e);
  } else if (const auto* f = std::get_if<FileOp>(&op)) {
    w.Str("op", "file");
    w.Bool("has_base", f->has_base);
    w.Int("actions.n", f->actions.size());
    for (const FileAction& a : f->actions) WriteAction(w, a);
  }
  return w.Take();
}

base::Digest VertexDigest(const Op& op, const std::vector<base::Digest>& inputs) {
  // One hasher per thread: constructing one per vertex costs an EVP fetch.
  thread_local base::Sha256 h;
  h.Update("kiln.vertex.v1\n");
  h.Update(SerializeOp(op));
  for (const base::Digest& d : inputs) {
    h.Update("input ");
    h.Update(d.str());
    h.Update("\n");
  }
  return h.Finish();
}

const char* OpKindName(const Op& op) {
  switch (op.index()) {
    case 0: return "source";
    case 1: return "exec";
    default: return "file";
  }
}

}  // namespace kiln::engine::graph
