"""Compares two build results: success or failure, the flattened file tree (path, type, mode,
owner, link target, content digest) and the image config fields below. Each difference is a
(field, detail) pair; fields are "status", "config.<Name>", "author" and "tree:<path>", the
names known-differences.md rows use."""

import hashlib
import json

import oci_tree

CONFIG_FIELDS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Labels",
                 "Volumes", "StopSignal", "Healthcheck", "OnBuild", "Shell"]
# Fields only in Docker's config; Buildah's OCI config drops them, so they come from inspect.
DOCKER_ONLY = {"Healthcheck", "OnBuild", "Shell"}


def _norm(value):
    """None, "", [] and {} all mean "not set"."""
    if value in (None, "", [], {}):
        return None
    return value


def image_facts(result, is_buildah):
    """(tree, {field: value}) of a successful build."""
    tree, config = oci_tree.read_tree(result.layout)
    c = config.get("config") or {}
    facts = {}
    for field in CONFIG_FIELDS:
        value = c.get(field)
        if is_buildah and field in DOCKER_ONLY:
            value = result.docker_config.get(field)
        facts["config." + field] = _norm(value)
    facts["author"] = _norm(config.get("author"))
    return tree, facts


def _short(value):
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "..."


def diff_results(kiln, buildah, kiln_facts=None, buildah_facts=None):
    """Differences between the two results (kiln first in every detail)."""
    if kiln.ok != buildah.ok:
        state = lambda ok: "ok" if ok else "failed"
        return [("status", f"kiln {state(kiln.ok)}, buildah {state(buildah.ok)}")]
    if not kiln.ok:
        return []
    ktree, kfacts = kiln_facts
    btree, bfacts = buildah_facts
    diffs = []
    for field in sorted(set(kfacts) | set(bfacts)):
        if kfacts.get(field) != bfacts.get(field):
            diffs.append((field, f"kiln {_short(kfacts.get(field))} "
                                 f"buildah {_short(bfacts.get(field))}"))
    for path in sorted(set(ktree) | set(btree)):
        k, b = ktree.get(path), btree.get(path)
        if k == b:
            continue
        if k is None or b is None:
            which = "kiln" if k is not None else "buildah"
            entry = k or b
            diffs.append(("tree:" + path, f"only in {which}: {entry.type} "
                                          f"{entry.fields()['mode']} {entry.uid}:{entry.gid}"))
            continue
        kf, bf = k.fields(), b.fields()
        parts = [f"{name} kiln {kf[name]!r} buildah {bf[name]!r}" for name in kf
                 if kf[name] != bf[name]]
        diffs.append(("tree:" + path, "; ".join(parts)))
    return diffs


def check_expect(line, result, facts):
    """One `expect` line of a case's args against Kiln's result; None if it holds, else why.
    Forms: ok | fail | file PATH TEXT | missing PATH | type PATH T | mode PATH 0755 |
    owner PATH UID:GID | link PATH TARGET | config FIELD JSON."""
    words = line.split(None, 2)
    kind = words[0]
    if kind in ("ok", "fail"):
        want = kind == "ok"
        return None if result.ok == want else f"expected the build to {'succeed' if want else 'fail'}"
    if not result.ok:
        return "expected a successful build"
    tree, cfg = facts
    if kind == "config":
        field, want = words[1], json.loads(words[2]) if len(words) > 2 else None
        got = cfg.get("config." + field, cfg.get(field))
        return None if got == _norm(want) else f"{field} is {_short(got)}, expected {_short(want)}"
    path = words[1]
    entry = tree.get(path)
    arg = words[2] if len(words) > 2 else ""
    if kind == "missing":
        return None if entry is None else f"{path} exists ({entry.type}), expected it missing"
    if entry is None:
        return f"{path} is missing"
    if kind == "file":
        want = "sha256:" + hashlib.sha256(arg.encode().decode("unicode_escape").encode()).hexdigest()
        return None if entry.type == "file" and entry.digest == want else \
            f"{path} content differs from {arg!r}"
    checks = {"type": entry.type, "mode": "%04o" % entry.mode, "owner": f"{entry.uid}:{entry.gid}",
              "link": entry.link}
    if kind not in checks:
        raise ValueError(f"unknown expect '{kind}'")
    return None if checks[kind] == arg else f"{path} {kind} is {checks[kind]}, expected {arg}"
