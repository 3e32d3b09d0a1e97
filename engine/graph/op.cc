#include "engine/graph/op.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>

namespace kiln::engine::graph {
namespace {

// A growable byte buffer written with memcpy: the serializer appends ~25 short fields per
// op, and std::string's per-append bookkeeping was the biggest cost of digesting an op.
class Buffer {
 public:
  // Returns room for `n` more bytes (valid until the next call).
  char* Extend(size_t n) {
    if (size_ + n > cap_) {
      size_t cap = std::max(cap_ * 2, size_ + n + 256);
      std::unique_ptr<char[]> bigger(new char[cap]);
      if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_);
      data_ = std::move(bigger);
      cap_ = cap;
    }
    char* p = data_.get() + size_;
    size_ += n;
    return p;
  }
  void Append(std::string_view s) {
    if (!s.empty()) std::memcpy(Extend(s.size()), s.data(), s.size());
  }
  void Clear() { size_ = 0; }
  void Release() { *this = Buffer(); }
  size_t capacity() const { return cap_; }
  std::string_view view() const { return std::string_view(data_.get(), size_); }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t cap_ = 0;
};

// Writes canonical fields (see op.h) into a Buffer.
class Writer {
 public:
  explicit Writer(Buffer* out) : out_(*out) {}
  void Str(std::string_view name, std::string_view v) { Field(name, {}, v); }
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
  // `count_name` is `name` + ".n" (passed in so no string is built per list).
  void List(std::string_view name, std::string_view count_name,
            const std::vector<std::string>& v) {
    Int(count_name, v.size());
    for (const std::string& s : v) Str(name, s);
  }
  // "sha256:<hex>", or "" when empty (Digest::str()), without building the string.
  void Digest(std::string_view name, const base::Digest& d) {
    if (d.empty()) return Str(name, "");
    Field(name, "sha256:", d.hex());
  }

 private:
  // <name> ' ' <len(a)+len(b)> ':' a b '\n' in one copy.
  void Field(std::string_view name, std::string_view a, std::string_view b) {
    char len[24];
    auto [end, ec] = std::to_chars(len, len + sizeof(len), a.size() + b.size());
    (void)ec;
    const size_t digits = static_cast<size_t>(end - len);
    char* p = out_.Extend(name.size() + digits + a.size() + b.size() + 3);
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    *p++ = ' ';
    std::memcpy(p, len, digits);
    p += digits;
    *p++ = ':';
    if (!a.empty()) std::memcpy(p, a.data(), a.size());
    p += a.size();
    if (!b.empty()) std::memcpy(p, b.data(), b.size());
    p += b.size();
    *p = '\n';
  }

  Buffer& out_;
};

void WriteSource(Writer& w, const SourceOp& s) {
  w.Str("op", "source");
  w.Int("kind", static_cast<uint64_t>(s.kind));
  w.Str("ref", s.ref);
  w.Digest("manifest_digest", s.manifest_digest);
  w.Str("platform", s.platform);
  w.List("include", "include.n", s.include_patterns);
  w.List("exclude", "exclude.n", s.exclude_patterns);
  w.Str("checksum", s.checksum);
  w.Str("filename", s.filename);
  w.Bool("keep_git_dir", s.keep_git_dir);
  if (!s.context_id.empty()) w.Str("context_id", s.context_id);
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
  w.List("args", "args.n", e.args);
  w.List("env", "env.n", e.env);
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
  w.List("src", "src.n", a.src_paths);
  w.Bool("allow_wildcard", a.allow_wildcard);
  w.Bool("allow_empty_wildcard", a.allow_empty_wildcard);
  w.Bool("dir_contents_only", a.dir_contents_only);
  w.Bool("follow_symlinks", a.follow_symlinks);
  w.Bool("create_dest_path", a.create_dest_path);
  w.Bool("auto_extract", a.auto_extract);
  w.Bool("parents", a.parents);
  if (a.link) w.Bool("link", true);  // only when set: see op.h
  w.List("excludes", "excludes.n", a.excludes);
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

void WriteOp(Writer& w, const Op& op) {
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
}

}  // namespace

std::string SerializeOp(const Op& op) {
  Buffer buf;
  Writer w(&buf);
  WriteOp(w, op);
  return std::string(buf.view());
}

base::Digest VertexDigestOf(const Op& op, std::span<const base::Digest* const> inputs) {
  // One hasher and one buffer per thread: constructing a hasher costs an EVP fetch, and the
  // buffer keeps its capacity, so digesting an op allocates only the digest's own text.
  thread_local base::Sha256 h;
  thread_local Buffer buf;
  buf.Clear();
  buf.Append("kiln.vertex.v1\n");
  Writer w(&buf);
  WriteOp(w, op);
  for (const base::Digest* d : inputs) {
    buf.Append("input ");
    if (!d->empty()) {
      buf.Append("sha256:");
      buf.Append(d->hex());
    }
    buf.Append("\n");
  }
  h.Update(buf.view());
  if (buf.capacity() > (size_t{1} << 20)) buf.Release();  // do not pin a huge op's bytes
  return h.Finish();
}

base::Digest VertexDigest(const Op& op, const std::vector<base::Digest>& inputs) {
  std::vector<const base::Digest*> ptrs;
  ptrs.reserve(inputs.size());
  for (const base::Digest& d : inputs) ptrs.push_back(&d);
  return VertexDigestOf(op, ptrs);
}

const char* OpKindName(const Op& op) {
  switch (op.index()) {
    case 0: return "source";
    case 1: return "exec";
    default: return "file";
  }
}

}  // namespace kiln::engine::graph
