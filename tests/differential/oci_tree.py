"""Reads an OCI image layout (a directory, as both tools export it) into its image config and
its flattened file tree: every layer applied in order, with whiteouts (".wh.NAME" removes NAME,
".wh..wh..opq" empties the directory from the lower layers), hard links and type changes.

A tree maps an absolute path to an Entry (type, mode, uid, gid, link target, content digest).
Only Python's standard library is used; layers may be uncompressed or gzip."""

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


class LayoutError(RuntimeError):
    pass


class Entry:
    __slots__ = ("type", "mode", "uid", "gid", "link", "digest")

    def __init__(self, type_, mode, uid, gid, link="", digest=""):
        self.type = type_
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.link = link
        self.digest = digest

    def fields(self):
        return {"type": self.type, "mode": "%04o" % self.mode, "uid": self.uid, "gid": self.gid,
                "link": self.link, "digest": self.digest}

    def __eq__(self, other):
        return isinstance(other, Entry) and self.fields() == other.fields()

    def __repr__(self):
        return "Entry(%s)" % ", ".join("%s=%s" % kv for kv in self.fields().items())


def _blob(layout, digest):
    algo, hexd = digest.split(":", 1)
    path = os.path.join(layout, "blobs", algo, hexd)
    if not os.path.isfile(path):
        raise LayoutError(f"read blob '{digest}': missing from {layout}")
    return path


def _json_blob(layout, digest):
    with open(_blob(layout, digest), "rb") as f:
        return json.load(f)


def read_manifest(layout):
    """The manifest and config of the single image in `layout` (an index may nest)."""
    try:
        with open(os.path.join(layout, "index.json")) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        raise LayoutError(f"read '{layout}/index.json': {e}") from e
    manifests = index.get("manifests") or []
    if not manifests:
        raise LayoutError(f"read '{layout}/index.json': no manifest, expected one image")
    desc = manifests[0]
    doc = _json_blob(layout, desc["digest"])
    while "manifests" in doc:  # a nested index
        doc = _json_blob(layout, doc["manifests"][0]["digest"])
    config = _json_blob(layout, doc["config"]["digest"])
    return doc, config


def _normalize(name):
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise LayoutError(f"read layer member '{name}': '..' in a layer path")
    return "/" + "/".join(parts)


def _remove_subtree(tree, path):
    tree.pop(path, None)
    prefix = path.rstrip("/") + "/"
    for p in [p for p in tree if p.startswith(prefix)]:
        del tree[p]


def _open_layer(path):
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        return tarfile.open(fileobj=gzip.open(path, "rb"), mode="r|")
    if magic == b"\x28\xb5\x2f\xfd":
        raise LayoutError(f"read layer '{path}': zstd, expected uncompressed or gzip")
    return tarfile.open(path, mode="r|")


def apply_layer(tree, fileobj_tar):
    """Applies one layer (an open streaming tarfile) to `tree` in place."""
    opaque_here = set()
    added = set()
    for m in fileobj_tar:
        path = _normalize(m.name)
        parent, base = os.path.split(path)
        if base == OPAQUE:
            # Empties the lower layers' content of `parent`, not what this layer adds to it.
            opaque_here.add(parent)
            prefix = parent.rstrip("/") + "/"
            for p in [p for p in tree if p.startswith(prefix) and p not in added]:
                del tree[p]
            continue
        if base.startswith(WHITEOUT):
            _remove_subtree(tree, os.path.join(parent, base[len(WHITEOUT):]))
            continue
        old = tree.get(path)
        if m.islnk():
            target = tree.get(_normalize(m.linkname))
            if target is None:
                raise LayoutError(f"read hard link '{m.name}': target '{m.linkname}' not found")
            entry = Entry(target.type, target.mode, target.uid, target.gid, target.link,
                          target.digest)
        elif m.isreg():
            h = hashlib.sha256()
            src = fileobj_tar.extractfile(m)
            for chunk in iter(lambda: src.read(1 << 16), b""):
                h.update(chunk)
            entry = Entry("file", m.mode & 0o7777, m.uid, m.gid, digest="sha256:" + h.hexdigest())
        elif m.isdir():
            entry = Entry("dir", m.mode & 0o7777, m.uid, m.gid)
        elif m.issym():
            entry = Entry("symlink", m.mode & 0o7777, m.uid, m.gid, link=m.linkname)
        elif m.ischr() or m.isblk():
            kind = "char" if m.ischr() else "block"
            entry = Entry(kind, m.mode & 0o7777, m.uid, m.gid, link=f"{m.devmajor}:{m.devminor}")
        elif m.isfifo():
            entry = Entry("fifo", m.mode & 0o7777, m.uid, m.gid)
        else:
            raise LayoutError(f"read layer member '{m.name}': unsupported type {m.type!r}")
        # A non-directory replacing a directory (or the reverse) drops the old subtree.
        if old is not None and (old.type == "dir") != (entry.type == "dir"):
            _remove_subtree(tree, path)
        tree[path] = entry
        added.add(path)
    return tree


def read_tree(layout):
    """The flattened file tree of the image in `layout`, and its config JSON."""
    manifest, config = read_manifest(layout)
    tree = {"/": Entry("dir", 0o755, 0, 0)}
    for layer in manifest.get("layers", []):
        path = _blob(layout, layer["digest"])
        tar = _open_layer(path)
        try:
            apply_layer(tree, tar)
        except (tarfile.TarError, OSError, EOFError) as e:
            raise LayoutError(f"read layer '{layer['digest']}': {e}") from e
        finally:
            tar.close()
    return tree, config


def tar_bytes(members):
    """Test helper: an uncompressed tar from (name, kind, extra) tuples; kind is file, dir,
    symlink, link; extra is the content, the link target or None."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, kind, extra in members:
            info = tarfile.TarInfo(name)
            data = None
            if kind == "file":
                data = extra or b""
                info.size = len(data)
                info.mode = 0o644
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = extra
                info.mode = 0o777
            elif kind == "link":
                info.type = tarfile.LNKTYPE
                info.linkname = extra
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def mode_string(mode):
    return stat.filemode(mode)
