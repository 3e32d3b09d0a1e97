#!/usr/bin/python3
"""Kiln vs Buildah, side by side, on this machine, in one run (see bench/README.md,
"Kiln vs Buildah"). Usually started through bench/scenarios/run.sh.

For each scenario it interleaves the tools run by run (Kiln, Buildah, Kiln, Buildah, ...),
records wall time, CPU and peak RSS of every CLI process, pairs the runs into Buildah/Kiln
speedups and checks them against the targets of issue 7. Writes
bench/results/<date>.{json,md,png}. Every daemon, Buildah mount and temp dir it makes is
removed at exit, also on failure and Ctrl-C."""

import argparse
import datetime
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proc  # noqa: E402
import report  # noqa: E402
import tools  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

FULL_REPS = {"cold": 3, "noop": 10, "change": 5, "parallel": 3}
QUICK_REPS = {"cold": 1, "noop": 1, "change": 1, "parallel": 1}
SCENARIOS = ["multi-stage", "http-server", "parallel-stages", "big-context", "chain-50"]

# Targets of issue 7: minimum median speedup (Buildah time / Kiln time).
TARGETS = {
    ("multi-stage", "no-op rebuild"): 20,
    ("big-context", "no-op rebuild"): 50,
    ("big-context", "one file changed"): 5,
    ("multi-stage", "welcome.go edited: outside the compile step"): 3,
    ("parallel-stages", "cold, vs buildah --jobs 1"): 2,
    ("parallel-stages", "cold, vs buildah --jobs 3"): 1,
    ("multi-stage", "cold"): 1,
    ("http-server", "cold"): 1,
    ("big-context", "cold"): 1,
    ("chain-50", "cold"): 1,
}
NOTES = {
    "multi-stage": "`shared/examples/multi-stage`: Go builder on golang:1.19, scratch runtime. "
                   "The edit rewrites the message in welcome.go (a new binary each time). "
                   "\"Outside the compile step\" is the whole build minus the `RUN go build` "
                   "step, from the step's start to its completion (Kiln: --metadata-file "
                   "timings; Buildah: its STEP line to its next own line, timestamped as read).",
    "http-server": "`shared/examples/http-server`: Go server, busybox runtime, USER 65534. The "
                   "edit changes a page title in main.go.",
    "parallel-stages": "`shared/examples/parallel-stages`: three independent `sleep 2` stages. "
                       "Cold builds; Buildah once with --jobs 1 (its default) and once with "
                       "--jobs 3 (its best case), interleaved with Kiln.",
    "big-context": "`shared/examples/big-context/make-context.sh`: 10,000 files of 20 KiB. "
                   "The change rewrites one file with new bytes.",
    "chain-50": "Generated: FROM busybox:1.35 and 50 small `RUN echo N >> /chain` steps.",
}


class Runner:
    def __init__(self, args):
        self.args = args
        self.reps = dict(QUICK_REPS if args.quick else FULL_REPS)
        for item in args.reps or []:
            key, _, value = item.partition("=")
            if key not in self.reps or not value.isdigit() or int(value) < 1:
                sys.exit(f"--reps {item}: expected KIND=N with KIND in {sorted(self.reps)}")
            self.reps[key] = int(value)
        self.t0 = time.monotonic()
        self.work = tempfile.mkdtemp(prefix="kiln-vs-buildah-", dir=args.tmp)
        os.chmod(self.work, 0o755)
        self.kiln = None
        self.buildah = None
        self.cases = []
        self.memory = {}
        self.sizes = {}
        self.disk = {}
        self.warnings = []
        self.peak = {}

    def log(self, msg):
        t = time.monotonic() - self.t0
        print(f"[{int(t // 60):02d}:{int(t % 60):02d}] {msg}", flush=True)

    # --- one measured build -------------------------------------------------------------
    def build(self, tool, ctx, tag, expect, jobs=None, dockerfile=None):
        # Every timed build starts with no dirty data in flight: the tools run interleaved, and
        # one build's writeback (Buildah's or Kiln's, hundreds of MB for big-context) would
        # otherwise land on the next build, whichever tool it belongs to. Untimed.
        os.sync()
        r = tool.build(ctx, tag, jobs=jobs, dockerfile=dockerfile)
        rec = {"wall_s": r.wall, "user_s": r.user, "sys_s": r.sys, "maxrss_kb": r.maxrss_kb,
               "work_steps": r.work_steps, "cached_steps": r.cached_steps}
        if r.compile_s is not None:
            rec["compile_s"] = r.compile_s
            rec["outside_s"] = r.wall - r.compile_s
        if tool is self.kiln:
            steps = sorted(r.meta.get("kiln.build.steps", []),
                           key=lambda s: -s.get("duration_seconds", 0))
            rec["slowest_steps"] = [[s["name"], round(s["duration_seconds"], 4), s["cached"]]
                                    for s in steps[:3]]
            if r.steps_span_s is not None:
                rec["steps_span_s"] = r.steps_span_s
                rec["outside_steps_s"] = r.wall - r.steps_span_s
        what = f"{tool.name} {os.path.basename(ctx)}"
        if expect == "cold" and r.cached_steps:
            raise proc.CommandError(f"{what}: a cold build had {r.cached_steps} cache hits; "
                                    "the reset did not empty the build cache")
        if expect == "noop" and not r.fully_cached:
            self.warnings.append(f"{what}: a no-op rebuild ran steps again "
                                 f"({r.cached_steps} cached of {r.work_steps})")
        if expect == "change" and r.fully_cached:
            self.warnings.append(f"{what}: the edit did not invalidate anything")
        self.peak[tool.name] = max(self.peak.get(tool.name, 0), r.maxrss_kb)
        return rec

    def pair_loop(self, scen, measure, kind, n, ctx, tag, before=None, jobs_variants=None,
                  dockerfile=None):
        """n interleaved pairs (Kiln, Buildah[, Buildah --jobs K...]); `before(i)` runs first
        in each pair (an edit); `kind` == "cold" resets each tool right before its run."""
        variants = [("kiln", self.kiln, None)]
        for jobs in jobs_variants or [None]:
            label = "buildah" if jobs is None else f"buildah --jobs {jobs}"
            variants.append((label, self.buildah, jobs))
        runs = {label: [] for label, _, _ in variants}
        for i in range(n):
            if before:
                before(i)
            line = []
            for label, tool, jobs in variants:
                if kind == "cold":
                    tool.reset(ctx)
                rec = self.build(tool, ctx, tag, kind, jobs=jobs, dockerfile=dockerfile)
                runs[label].append(rec)
                line.append(f"{label} {rec['wall_s']:.3f} s")
            self.log(f"{scen} {measure} {i + 1}/{n}: " + ", ".join(line))
        for label, _, _ in variants[1:]:
            m = measure if len(variants) == 2 else f"{measure}, vs {label}"
            self.add_case(scen, m, "wall_s", {"kiln": runs["kiln"], label: runs[label]}, label)
        return runs

    def add_case(self, scen, measure, metric, runs, versus):
        case = {"scenario": scen, "measure": measure, "metric": metric, "versus": versus,
                "target": TARGETS.get((scen, measure)), "runs": runs}
        report.summarize(case)
        if case["result"] == "MISS":
            med = sorted(runs["kiln"], key=lambda r: r[metric])[len(runs["kiln"]) // 2]
            case["profile"] = (
                f"{metric} {med[metric]:.3f} s, of which the steps (first start to last end) "
                f"{med.get('steps_span_s', 0):.3f} s and the rest (client, frontend, solve "
                f"setup, export to the image store) {med.get('outside_steps_s', 0):.3f} s; "
                "slowest steps: " + "; ".join(
                    f"{name} {sec:.3f} s{' (cached)' if cached else ''}"
                    for name, sec, cached in med.get("slowest_steps", [])))
        self.cases.append(case)

    # --- scenarios ------------------------------------------------------------------------
    def example(self, scen, ctx, edit=None):
        tag = f"bench/{scen}:latest"
        self.peak = {}
        self.kiln.reset_peak()
        self.pair_loop(scen, "cold", "cold", self.reps["cold"], ctx, tag)
        self.pair_loop(scen, "no-op rebuild", "noop", self.reps["noop"], ctx, tag)
        if edit:
            measure = edit["measure"]
            runs = self.pair_loop(scen, measure, "change", self.reps["change"], ctx, tag,
                                  before=edit["fn"])
            if edit.get("compile"):
                self.add_case(scen, f"{measure}: outside the compile step", "outside_s", runs,
                              "buildah")
        self.finish_scenario(scen, ctx, tag)

    def parallel(self, scen, ctx):
        tag = f"bench/{scen}:latest"
        self.peak = {}
        self.kiln.reset_peak()
        self.pair_loop(scen, "cold", "cold", self.reps["parallel"], ctx, tag,
                       jobs_variants=[1, 3])
        self.finish_scenario(scen, ctx, tag)

    def finish_scenario(self, scen, ctx, tag):
        hwm = self.kiln.daemon_hwm_kb()
        self.memory[scen] = {"kiln_kb": (hwm or 0) + self.peak.get("kiln", 0),
                             "kilnd_hwm_kb": hwm, "kilnctl_maxrss_kb": self.peak.get("kiln"),
                             "buildah_kb": self.peak.get("buildah")}
        self.disk[scen] = {"kiln": self.kiln.store_bytes(), "buildah": self.buildah.store_bytes()}
        self.sizes[scen] = {}
        for tool in (self.kiln, self.buildah):
            size, types = tool.image_size(ctx, tag)
            self.sizes[scen][tool.name] = {"bytes": size, "types": types}

    def contexts(self, only):
        shared = self.args.shared
        ctxs = {}
        for name in ("multi-stage", "http-server", "parallel-stages"):
            if name not in only:
                continue
            dest = os.path.join(self.work, "ctx", name)
            shutil.copytree(os.path.join(shared, "examples", name), dest)
            subprocess.run(["chmod", "-R", "u+w,a+rX", dest], check=True)
            ctxs[name] = dest
        if "big-context" in only:
            big = os.path.join(self.work, "ctx", "big-context")
            self.log("making the 10,000-file big-context")
            subprocess.run(["sh", os.path.join(shared, "examples/big-context/make-context.sh"),
                            big], check=True, stdout=subprocess.DEVNULL)
            ctxs["big-context"] = big
        chain = os.path.join(self.work, "ctx", "chain-50")
        os.makedirs(chain)
        with open(os.path.join(chain, "Dockerfile"), "w") as f:
            f.write("FROM busybox:1.35\n")
            for i in range(1, 51):
                f.write(f"RUN echo {i} >> /chain\n")
        ctxs["chain-50"] = chain
        return ctxs

    @staticmethod
    def replacer(path, old, new_fmt):
        with open(path) as f:
            original = f.read()
        if old not in original:
            raise proc.CommandError(f"edit '{path}': '{old}' not found")

        def edit(i):
            with open(path, "w") as f:
                f.write(original.replace(old, new_fmt.format(i=i + 1)))
        return edit

    def run(self):
        self.log(f"work dir {self.work}; reps {self.reps}")
        only = self.args.only or SCENARIOS
        ctxs = self.contexts(only)
        self.kiln = tools.Kiln(self.args.build_dir, self.work, self.args.images, self.log)
        self.buildah = tools.Buildah(self.work, self.args.images, self.log)
        self.log("starting kilnd and importing the base images")
        self.kiln.setup()
        self.log("buildah: probing storage driver and runtime, pulling the base images")
        self.buildah.setup()
        self.log(f"buildah: {self.buildah.driver} + {self.buildah.runtime}")
        for scen in SCENARIOS:
            if scen not in only:
                continue
            ctx = ctxs[scen]
            if scen == "multi-stage":
                self.example(scen, ctx, {
                    "measure": "welcome.go edited", "compile": True,
                    "fn": self.replacer(os.path.join(ctx, "welcome.go"), "builds with Kiln",
                                        "builds with Kiln (edit {i})")})
            elif scen == "http-server":
                self.example(scen, ctx, {
                    "measure": "main.go edited", "compile": True,
                    "fn": self.replacer(os.path.join(ctx, "main.go"), '"Home Page"',
                                        '"Home Page {i}"')})
            elif scen == "parallel-stages":
                self.parallel(scen, ctx)
            elif scen == "big-context":
                target = os.path.join(ctx, "src", "d0", "f000")

                def rewrite(_i, target=target):
                    with open(target, "wb") as f:
                        f.write(os.urandom(20480))
                self.example(scen, ctx, {"measure": "one file changed", "fn": rewrite})
            else:
                self.example(scen, ctx)
        return self.disk


def host_network_snapshot():
    links = subprocess.run(["ip", "-o", "link"], stdout=subprocess.PIPE, text=True,
                           check=False).stdout
    names = sorted(l.split(":")[1].strip().split("@")[0] for l in links.splitlines() if ":" in l)
    return {"links": names, "var_lib_cni": os.path.exists("/var/lib/cni")}


def git_commit():
    r = subprocess.run(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"],
                       stdout=subprocess.PIPE, text=True, check=False)
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                           stdout=subprocess.PIPE, text=True, check=False).stdout.strip()
    return r.stdout.strip() + ("+uncommitted changes" if dirty else "")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: one run of each kind")
    p.add_argument("--reps", action="append", metavar="KIND=N",
                   help="override repetitions: cold, noop, change, parallel")
    p.add_argument("--only", action="append", choices=SCENARIOS, help="run only this scenario")
    p.add_argument("--build-dir", default=os.path.join(REPO, "build", "release"),
                   help="a Release build with kilnctl and kilnd (default build/release)")
    p.add_argument("--shared", default=os.environ.get("KILN_SHARED_DIR",
                                                      os.path.join(REPO, "..", "shared")))
    p.add_argument("--images", default=os.environ.get("KILN_IMAGES_DIR",
                                                      "/var/cache/kiln/images"))
    p.add_argument("--out", default=os.path.join(REPO, "bench", "results"))
    p.add_argument("--tmp", default=None, help="parent of the temp work dir (default $TMPDIR)")
    p.add_argument("--note", default="", help="a line for the report (e.g. the machine's load)")
    p.add_argument("--keep-work", action="store_true", help="keep the work dir (debugging)")
    args = p.parse_args()
    args.build_dir = os.path.abspath(args.build_dir)
    for folder, _ in tools.BASE_IMAGES:
        if not os.path.isdir(os.path.join(args.images, folder)):
            sys.exit(f"base image {args.images}/{folder} is missing: run tools/images/build.sh")

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    net_before = host_network_snapshot()
    load_start = loadavg()
    runner = Runner(args)
    code = 0
    disk = {}
    try:
        disk = runner.run()
    except KeyboardInterrupt:
        runner.log("interrupted: cleaning up")
        code = 130
    except (proc.CommandError, subprocess.CalledProcessError, OSError) as e:
        runner.log(f"FAILED: {e}")
        code = 1
    finally:
        def cleanup():
            if runner.kiln is not None:
                runner.kiln.stop()  # gracefully first: kilnd unmounts and removes its socket
            proc.stop_all()  # a build still running, by pid
            for tool in (runner.buildah, runner.kiln):
                if tool is not None:
                    try:
                        left = tool.cleanup()
                        if left:
                            runner.log(f"{tool.name}: detached leftover mounts {left}")
                    except (proc.CommandError, OSError) as e:
                        runner.log(f"{tool.name}: cleanup: {e}")
            left = proc.unmount_under(runner.work)
            if left:
                runner.log(f"detached leftover mounts {left}")
            if args.keep_work:
                runner.log(f"kept {runner.work}")
            else:
                runner.log(f"removing {runner.work}")
                shutil.rmtree(runner.work, ignore_errors=True)
        tools.ignore_interrupts_during(cleanup)
    net_after = host_network_snapshot()
    if net_after != net_before:
        print(f"WARNING: host network state changed during the run: {net_before} -> "
              f"{net_after}", file=sys.stderr)
        runner.warnings.append(f"host network state changed: {net_before} -> {net_after}")
    if code != 0:
        return code

    load_end = loadavg()
    cpus = os.cpu_count()
    date = datetime.date.today().isoformat()
    name = date + ("-quick" if args.quick else "") + ("-rootless" if os.geteuid() else "")
    kiln_rusage = runner.kiln.daemon_rusage
    memory = dict(runner.memory)
    memory["kilnd_with_children_kb"] = kiln_rusage.ru_maxrss if kiln_rusage else None
    res = {
        "meta": {
            "name": name, "date": date, "quick": args.quick, "reps": runner.reps,
            "command": " ".join(["bench/scenarios/run.sh"] + sys.argv[1:]),
            "elapsed_s": time.monotonic() - runner.t0, "cpus": cpus,
            "kernel": platform.release(), "uid": os.geteuid(), "rootless": os.geteuid() != 0,
            "load_start": load_start, "load_end": load_end,
            "under_load": max(float(load_start.split()[0]), float(load_end.split()[0]))
                          > 0.5 * cpus,
            "note": args.note, "kiln_commit": git_commit(), "build_dir": args.build_dir,
        },
        "tools": {"kiln": runner.kiln.facts, "buildah": runner.buildah.facts},
        "targets": {f"{s}: {m}": t for (s, m), t in TARGETS.items()},
        "scenario_order": [s for s in SCENARIOS if s in (args.only or SCENARIOS)],
        "scenario_notes": NOTES,
        "cases": runner.cases, "memory": memory, "image_sizes": runner.sizes, "disk": disk,
        "kiln_unpack_seconds": runner.kiln.unpack_seconds,
        "warnings": runner.warnings,
    }
    paths = report.write(res, args.out)
    print(open(paths["md"]).read())
    runner.log("wrote " + ", ".join(paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
