"""Differential test: builds every case with Kiln and with Buildah and compares the results
(see README.md). Runs as root. Everything lives in one temp dir, removed at exit.

usage: harness.py --kilnctl PATH --kilnd PATH [--filter REGEX] [--keep] [-v] [--jobs N]"""

import argparse
import concurrent.futures
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench", "scenarios"))

import base_image  # noqa: E402
import cases  # noqa: E402
import compare  # noqa: E402
import drivers  # noqa: E402
import proc  # noqa: E402

IMAGES_DIR = "/var/cache/kiln/images"
TMP_PREFIX = "kiln-differential-"


# buildah names an image pulled from "oci:DIR" after DIR, so DIR must be a valid reference
# path: lowercase letters and digits joined by single separators. tempfile.mkdtemp draws
# from [a-z0-9_], and a "-_" pair in its name made buildah refuse the layout.
_REFERENCE_PATH = re.compile(r"^(/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$")


def make_work_dir():
    """A new private directory under $TMPDIR (else /tmp) whose path is a valid reference."""
    parent = os.path.realpath(tempfile.gettempdir())
    if not _REFERENCE_PATH.match(parent):
        parent = "/tmp"
    for _ in range(100):
        path = os.path.join(parent, TMP_PREFIX + secrets.token_hex(6))
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        if not _REFERENCE_PATH.match(path):
            os.rmdir(path)
            raise OSError(f"{path} is not a valid image reference path")
        return path
    raise OSError(f"no free name under {parent}")


class Terminated(Exception):
    pass


# Set when the run is being stopped: a case in flight starts no further build.
STOPPING = threading.Event()


def _on_term(signum, frame):
    del frame
    raise Terminated(f"signal {signum}")


def prepare_context(case, work):
    """Copies the case's context into the run's temp dir and runs its prepare.sh there (cwd is
    the copy; $OUTSIDE is a dir of the temp dir outside the context, for links pointing out)."""
    root = os.path.join(work, "cases", case.name)
    ctx = os.path.join(root, "context")
    outside = os.path.join(root, "outside")
    os.makedirs(outside)
    shutil.copytree(case.context, ctx, symlinks=True)
    if os.path.exists(case.prepare):
        env = dict(os.environ, OUTSIDE=outside, CONTEXT=ctx)
        r = subprocess.run(["sh", "-eu", case.prepare], cwd=ctx, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        if r.returncode != 0:
            raise cases.CaseError(f"run '{case.prepare}': exit {r.returncode}: "
                                  f"{r.stdout.decode(errors='replace')[-400:]}")
    return root, ctx


def run_case(case, kiln, buildah, work):
    root, ctx = prepare_context(case, work)
    dockerfile = os.path.join(ctx, case.dockerfile) if case.dockerfile else None
    opts = dict(dockerfile=dockerfile, target=case.target, build_args=case.build_args)
    k = kiln.build(ctx, os.path.join(root, "kiln.oci"), **opts)
    if STOPPING.is_set():
        raise Terminated("stopped")
    b = buildah.build(ctx, os.path.join(root, "buildah.oci"), tag="diff-" + case.name, **opts)
    kfacts = compare.image_facts(k, False) if k.ok else None
    bfacts = compare.image_facts(b, True) if b.ok else None
    diffs = compare.diff_results(k, b, kfacts, bfacts)
    for number, line in case.expects:
        why = compare.check_expect(line, k, kfacts)
        if why:
            diffs.append(("expect", f"args:{number}: {why}"))
    return diffs, k, b


def judge(case, diffs, rows):
    """(verdict, lines): PASS, FAIL, XFAIL or XPASS, with the lines to print."""
    mine = [r for r in rows if r.case == case.name]
    unexplained, used, lines = [], set(), []
    for field, detail in diffs:
        row = next((r for r in mine if r.matches(case.name, field)), None)
        if row is None:
            unexplained.append((field, detail))
        else:
            used.add(id(row))
            tag = "xfail" if row.strict else "known"
            lines.append(f"    {tag} {field}: {detail}")
    for field, detail in unexplained:
        lines.append(f"    DIFF {field}: {detail}")
    stale = [r for r in mine if id(r) not in used]
    for r in stale:
        lines.append(f"    STALE {r.where}: '{r.field}' no longer differs "
                     f"({'XPASS' if r.strict else 'remove the row'})")
    if unexplained or stale:
        strict_stale = all(r.strict for r in stale) and stale and not unexplained
        return ("XPASS" if strict_stale else "FAIL"), lines
    if any(r.strict for r in mine):
        return "XFAIL", lines
    return "PASS", lines


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kilnctl", required=True)
    ap.add_argument("--kilnd", required=True)
    ap.add_argument("--filter", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (prints its path)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print build logs of failures")
    ap.add_argument("--jobs", type=int, default=2)
    opts = ap.parse_args()
    if os.geteuid() != 0:
        print("harness.py: must run as root (Buildah with runc, kilnd's root store)",
              file=sys.stderr)
        return 2
    case_dir = os.path.join(HERE, "cases")
    try:
        all_names = {n for n in os.listdir(case_dir) if os.path.isdir(os.path.join(case_dir, n))}
        selected = cases.load_cases(case_dir, opts.filter)
        rows = cases.load_known(os.path.join(HERE, "known-differences.md"), all_names)
    except (cases.CaseError, OSError) as e:
        print(f"harness.py: {e}", file=sys.stderr)
        return 2
    if not selected:
        print(f"harness.py: no case matches '{opts.filter}'", file=sys.stderr)
        return 2

    try:
        work = make_work_dir()
        parent = os.path.dirname(work)
    except OSError as e:
        print(f"harness.py: cannot make a work directory: {e}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _on_term)
    kiln = buildah = pool = None
    code = 1
    t0 = time.monotonic()
    try:
        etc = base_image.make_etc_image(os.path.join(IMAGES_DIR, "busybox-1.35"),
                                        os.path.join(work, "busybox-1.35-etc"),
                                        "busybox:1.35-etc")
        images = [(os.path.join(IMAGES_DIR, "busybox-1.35"), "busybox:1.35"),
                  (etc, "busybox:1.35-etc")]
        kiln = drivers.Kiln(opts.kilnctl, opts.kilnd, work)
        buildah = drivers.Buildah(work)
        kiln.setup(images)
        buildah.setup(images)
        print(f"setup done in {time.monotonic() - t0:.0f} s; {len(selected)} cases, "
              f"{opts.jobs} at a time", flush=True)
        counts = {"PASS": 0, "FAIL": 0, "XFAIL": 0, "XPASS": 0}
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs))
        futures = {pool.submit(run_case, c, kiln, buildah, work): c for c in selected}
        for future in concurrent.futures.as_completed(futures):
            case = futures[future]
            try:
                diffs, k, b = future.result()
                verdict, lines = judge(case, diffs, rows)
            except Exception as e:  # a harness error in one case fails that case
                verdict, lines, k, b = "FAIL", [f"    ERROR {e}"], None, None
            counts[verdict] += 1
            print(f"{verdict:5} {case.name}", flush=True)
            for line in lines:
                print(line, flush=True)
            if opts.verbose and verdict in ("FAIL", "XPASS"):
                for tool, r in (("kiln", k), ("buildah", b)):
                    if r is not None and not r.ok:
                        print(f"    --- {tool} log (tail):\n" + r.log[-2000:], flush=True)
        failed = counts["FAIL"] + counts["XPASS"]
        print(f"{counts['PASS'] + counts['XFAIL']} passed, {failed} failed "
              f"({counts['XFAIL']} expected failures) in {time.monotonic() - t0:.0f} s")
        code = 1 if failed else 0
    except (proc.CommandError, cases.CaseError, OSError, Terminated) as e:
        print(f"harness.py: {e}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print("harness.py: interrupted", file=sys.stderr)
        code = 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        STOPPING.set()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        for tool in (buildah, kiln):
            if tool is not None:
                tool.cleanup()
        proc.stop_all()
        if pool is not None:
            pool.shutdown(wait=True)  # the builds in flight end with their killed children
        left = proc.unmount_under(work)
        if left:
            print(f"harness.py: unmounted leftovers: {left}", file=sys.stderr)
        if opts.keep:
            print(f"kept {work}")
        elif os.path.basename(work).startswith(TMP_PREFIX) and \
                os.path.dirname(work) == parent and not proc.mounts_under(work):
            shutil.rmtree(work, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
