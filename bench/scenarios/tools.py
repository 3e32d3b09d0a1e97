"""The two build tools, driven the way a user would: Kiln (kilnctl through a private kilnd) and
Buildah (`buildah bud --layers` with its own storage). Each has the same small interface:
setup(), reset() (empty build cache, base images kept), build(), image_size(), peak memory,
store size and cleanup()."""

import calendar
import json
import os
import re
import shutil
import signal
import time

import proc

# Buildah's progress lines: "STEP 3/4: COPY ..." or, in multi-stage builds, "[1/2] STEP ...".
_STEP = re.compile(r"(?:\[\d+/\d+\] )?STEP \d+/\d+: (\w+)")
_COMMIT = re.compile(r"(?:\[\d+/\d+\] )?COMMIT")

BASE_IMAGES = [("busybox-1.35", "busybox:1.35"), ("golang-1.19", "golang:1.19")]


def oci_layer_bytes(layout):
    """Sum of the (compressed) layer sizes in the single image of an OCI layout dir, and their
    media types."""
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    desc = index["manifests"][0]
    algo, hexd = desc["digest"].split(":", 1)
    with open(os.path.join(layout, "blobs", algo, hexd)) as f:
        manifest = json.load(f)
    layers = manifest.get("layers", [])
    return sum(l["size"] for l in layers), sorted({l["mediaType"] for l in layers})


def _unix(rfc3339):
    """Seconds since the epoch of a UTC RFC 3339 time with up to nanoseconds."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(?:Z|\+00:00)$", rfc3339)
    if not m:
        raise proc.CommandError(f"parse time '{rfc3339}': expected UTC RFC 3339")
    whole = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    return whole + (int(m.group(2)) / 10 ** len(m.group(2)) if m.group(2) else 0.0)


class Kiln:
    name = "kiln"

    def __init__(self, build_dir, work, images_dir, log):
        self.kilnctl = os.path.join(build_dir, "tools/kilnctl/kilnctl")
        self.kilnd = os.path.join(build_dir, "tools/kilnd/kilnd")
        for binary in (self.kilnctl, self.kilnd):
            if not os.access(binary, os.X_OK):
                raise proc.CommandError(
                    f"find '{binary}': missing; build it first (ninja -C {build_dir} kilnctl kilnd)")
        self.dir = os.path.join(work, "kiln")
        self.root = os.path.join(self.dir, "root")
        self.addr = "unix://" + os.path.join(self.dir, "kilnd.sock")
        self.images_dir = images_dir
        self.log = log
        self.daemon = None
        self.daemon_rusage = None
        self.tags = set()
        self.facts = {}
        self.unpack_seconds = []

    def _ctl(self, *args):
        return [self.kilnctl, *args, "--addr", self.addr]

    def setup(self):
        os.makedirs(self.dir, exist_ok=True)
        config = os.path.join(self.dir, "kilnd.toml")
        with open(config, "w") as f:
            f.write("# bench/scenarios: kilnd defaults (each RUN in its own network namespace)\n")
        self.daemon = proc.start_daemon(
            [self.kilnd, "--addr", self.addr, "--root", self.root, "--config", config],
            os.path.join(self.dir, "kilnd.log"))
        deadline = time.monotonic() + 90
        while True:
            if self.daemon.poll() is not None:
                raise proc.CommandError(f"start kilnd: exited with {self.daemon.returncode}; "
                                        f"see {self.dir}/kilnd.log")
            if proc.run(self._ctl("du"), timeout=30).code == 0:
                break
            if time.monotonic() > deadline:
                raise proc.CommandError("start kilnd: no answer after 90 s")
            time.sleep(0.1)
        for folder, ref in BASE_IMAGES:
            proc.run(self._ctl("image", "import", os.path.join(self.images_dir, folder),
                               "--name", ref)).check(f"kilnctl image import {ref}")
        # The facts of the worker that runs the builds, asked of this kilnd.
        workers = proc.run(self._ctl("debug", "workers"), timeout=60)
        self.facts = {"kilnd_pid": self.daemon.pid, "workers": workers.text.splitlines()[:20],
                      "network": "default (kilnd's default: its own network namespace with "
                                 "slirp4netns per RUN; Buildah runs with host, which is cheaper)"}

    def reset(self, ctx):
        """Empties the build cache: removes every image but the base images, then prune --all,
        then unpacks the base images `ctx`'s Dockerfile uses (see unpack_base)."""
        listing = proc.run(self._ctl("image", "ls", "-q")).check("kilnctl image ls")
        keep = {ref for _, ref in BASE_IMAGES}
        keep |= {"docker.io/library/" + ref for ref in keep}
        drop = [r for r in listing.text.split() if r not in keep]
        if drop:
            proc.run(self._ctl("image", "rm", *drop)).check("kilnctl image rm")
        proc.run(self._ctl("prune", "--all")).check("kilnctl prune --all")
        self.unpack_base(ctx)

    def unpack_base(self, ctx):
        """Kiln imports images as compressed blobs and unpacks their layers on first use, into
        snapshots that belong to the build cache (prune drops them); Buildah unpacks at pull.
        So that "cold" starts from the same place for both (base images ready, nothing else
        cached), an untimed FROM-only build unpacks each base image. Returns the seconds each
        unpack took, which the report shows."""
        with open(os.path.join(ctx, "Dockerfile")) as f:
            froms = set(re.findall(r"(?im)^\s*FROM\s+(\S+)", f.read()))
        unpack = os.path.join(self.dir, "unpack-base")
        os.makedirs(unpack, exist_ok=True)
        seconds = {}
        for _, ref in BASE_IMAGES:
            if ref not in froms:
                continue
            with open(os.path.join(unpack, "Dockerfile"), "w") as f:
                f.write(f"FROM {ref}\n")
            r = proc.run(self._ctl("build", "--progress", "plain", unpack))
            seconds[ref] = r.check(f"unpack {ref}").wall
        self.unpack_seconds.append(seconds)
        return seconds

    def build(self, ctx, tag, jobs=None, dockerfile=None):
        del jobs  # Kiln always runs independent stages in parallel
        meta = os.path.join(self.dir, "meta.json")
        if os.path.exists(meta):
            os.unlink(meta)
        args = ["build", "--progress", "plain", "--metadata-file", meta, "-t", tag]
        if dockerfile:
            args += ["-f", dockerfile]
        r = proc.run(self._ctl(*args, ctx)).check(f"kiln build {ctx}")
        self.tags.add(tag)
        with open(meta) as f:
            r.meta = json.load(f)
        steps = r.meta.get("kiln.build.steps", [])
        work = [s for s in steps if re.search(r"\] (RUN|COPY|ADD) ", s.get("name", ""))]
        r.work_steps = len(work)
        r.cached_steps = sum(1 for s in work if s.get("cached"))
        r.fully_cached = r.cached_steps == r.work_steps
        times = [(_unix(s["started"]), _unix(s["completed"])) for s in steps
                 if s.get("started") and s.get("completed")]
        r.steps_span_s = (max(t[1] for t in times) - min(t[0] for t in times)) if times else None
        compile_steps = [s for s in work if "go build" in s["name"] and not s.get("cached")]
        r.compile_s = sum(s["duration_seconds"] for s in compile_steps) if compile_steps else None
        return r

    def image_size(self, ctx, tag, dockerfile=None):
        dest = os.path.join(self.dir, "export-" + re.sub(r"[^a-z0-9]+", "-", tag))
        shutil.rmtree(dest, ignore_errors=True)
        args = ["build", "--progress", "quiet", "--output", f"type=oci,dest={dest},tar=false"]
        if dockerfile:
            args += ["-f", dockerfile]
        proc.run(self._ctl(*args, ctx)).check(f"kiln export {tag}")
        size, types = oci_layer_bytes(dest)
        shutil.rmtree(dest, ignore_errors=True)
        return size, types

    def reset_peak(self):
        """Resets kilnd's VmHWM (echo 5 > clear_refs); False if the kernel refused."""
        try:
            with open(f"/proc/{self.daemon.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def daemon_hwm_kb(self):
        try:
            with open(f"/proc/{self.daemon.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def store_bytes(self):
        return proc.du_bytes(self.root)

    def stop(self):
        if self.daemon is not None and self.daemon.returncode is None:
            self.daemon_rusage = proc.stop_daemon(self.daemon)

    def cleanup(self):
        self.stop()
        return proc.unmount_under(self.dir)


class Buildah:
    name = "buildah"

    def __init__(self, work, images_dir, log):
        if shutil.which("buildah") is None:
            raise proc.CommandError("find 'buildah': not installed (run tools/setup.sh)")
        self.dir = os.path.join(work, "buildah")
        self.images_dir = images_dir
        self.log = log
        self.driver = None
        self.runtime = None
        self.rootless = os.geteuid() != 0
        self.isolation = "rootless" if self.rootless else "oci"
        self.base_ids = set()
        self.facts = {}
        self.env = dict(os.environ)
        # Keep every piece of Buildah's state under our temp dir, and never read the host's
        # registries (everything resolves locally with --pull=never).
        self.env["XDG_RUNTIME_DIR"] = os.path.join(self.dir, "xdg-run")
        self.env["TMPDIR"] = os.path.join(self.dir, "tmp")

    def _b(self, *args, root=None):
        root = root or os.path.join(self.dir, "root")
        return ["buildah", "--root", root, "--runroot", root + "-run",
                "--storage-driver", self.driver, *args]

    def _pull(self, folder, ref, root=None):
        """Pulls an OCI layout and names it as a registry pull would, so that `FROM ref`
        resolves locally with --pull=never. Returns the image id."""
        r = proc.run(self._b("pull", "-q", "oci:" + os.path.join(self.images_dir, folder),
                             root=root), env=self.env)
        r.check(f"buildah pull {folder}")
        image_id = r.lines[-1][1].strip()
        proc.run(self._b("tag", image_id, "docker.io/library/" + ref, root=root),
                 env=self.env).check("buildah tag")
        proc.run(self._b("rmi", "localhost" + os.path.join(self.images_dir, folder),
                         root=root), env=self.env)
        return image_id

    def _probe(self):
        """Picks the storage driver (overlay, else vfs) and OCI runtime (runc, else crun) with a
        real one-RUN build in a scratch store; records why the others failed."""
        ctx = os.path.join(self.dir, "probe-ctx")
        os.makedirs(ctx, exist_ok=True)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("FROM busybox:1.35\nRUN echo probe > /probe\n")
        tried = []
        runtimes = [r for r in ("runc", "crun") if shutil.which(r)]
        for driver in ("overlay", "vfs"):
            for runtime in runtimes:
                self.driver = driver
                root = os.path.join(self.dir, f"probe-{driver}-{runtime}")
                try:
                    self._pull("busybox-1.35", "busybox:1.35", root=root)
                    r = proc.run(self._b("bud", "--pull=never", "--isolation", self.isolation,
                                         "--runtime", runtime, "--network", "host", ctx,
                                         root=root), env=self.env)
                    error = "" if r.code == 0 else r.text[-400:]
                except proc.CommandError as e:
                    error = str(e)[-400:]
                finally:
                    self._drop_store(root)
                tried.append({"driver": driver, "runtime": runtime, "ok": not error,
                              "error": error})
                if not error:
                    self.runtime = runtime
                    self.facts["probe"] = tried
                    return
        self.facts["probe"] = tried
        raise proc.CommandError("buildah: no storage driver / runtime pair could run a RUN "
                                "step: " + json.dumps(tried, indent=1))

    def _drop_store(self, root):
        proc.run(self._b("rm", "--all", root=root), env=self.env)
        proc.run(self._b("umount", "--all", root=root), env=self.env)
        proc.unmount_under(root)
        proc.unmount_under(root + "-run")
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(root + "-run", ignore_errors=True)

    def setup(self):
        for d in ("xdg-run", "tmp"):
            os.makedirs(os.path.join(self.dir, d), mode=0o700, exist_ok=True)
        self._probe()
        for folder, ref in BASE_IMAGES:
            self.base_ids.add(self._pull(folder, ref))
        version = proc.run(["buildah", "--version"]).text.strip()
        self.facts.update({
            "version": version, "storage_driver": self.driver, "runtime": self.runtime,
            "isolation": self.isolation, "rootless": self.rootless,
            "network": "host: Buildah's default RUN network is a CNI bridge, which would change "
                       "the host's interfaces and iptables and cannot reach anything here; "
                       "Kiln runs with its default (own namespace + slirp4netns), which costs it more",
            "flags": "bud --layers --pull=never --isolation %s --runtime %s --network host"
                     % (self.isolation, self.runtime)})

    def reset(self, ctx):
        """Removes every image but the base images and every working container."""
        del ctx
        proc.run(self._b("rm", "--all"), env=self.env)
        ids = proc.run(self._b("images", "-a", "-q", "--no-trunc"), env=self.env)
        ids.check("buildah images")
        drop = [i for i in ids.text.split() if i.split(":")[-1] not in
                {b.split(":")[-1] for b in self.base_ids}]
        if drop:
            proc.run(self._b("rmi", "-f", *drop), env=self.env).check("buildah rmi")
        proc.run(self._b("rmi", "--prune"), env=self.env)

    def build(self, ctx, tag, jobs=None, dockerfile=None):
        args = ["bud", "--layers", "--pull=never", "--isolation", self.isolation,
                "--runtime", self.runtime, "--network", "host", "-t", tag]
        if jobs:
            args += ["--jobs", str(jobs)]
        if dockerfile:
            args += ["-f", dockerfile]
        r = proc.run(self._b(*args, ctx), env=self.env).check(f"buildah bud {ctx}")
        steps = [(t, m.group(1)) for t, m in ((t, _STEP.match(line)) for t, line in r.lines) if m]
        r.work_steps = sum(1 for _, s in steps if s in ("RUN", "COPY", "ADD"))
        r.cached_steps = sum(1 for _, line in r.lines if line.startswith("--> Using cache"))
        # With --layers every instruction but FROM is a cached layer on a no-op rebuild.
        r.fully_cached = r.cached_steps >= sum(1 for _, s in steps if s != "FROM")
        r.compile_s = self._compile_seconds(r.lines)
        return r

    @staticmethod
    def _compile_seconds(lines):
        """Duration of the `RUN ... go build` step: from its STEP line to Buildah's next own
        line ("-->", "STEP", "COMMIT"), so it holds the runtime start and the layer commit too."""
        total = None
        for i, (t, line) in enumerate(lines):
            m = _STEP.match(line)
            if m and m.group(1) == "RUN" and "go build" in line:
                for t2, nxt in lines[i + 1:]:
                    if nxt.startswith("-->") or _STEP.match(nxt) or _COMMIT.match(nxt):
                        if not nxt.startswith("--> Using cache"):
                            total = (total or 0.0) + (t2 - t)
                        break
        return total

    def image_size(self, ctx, tag, dockerfile=None):
        del ctx, dockerfile
        dest = os.path.join(self.dir, "export-" + re.sub(r"[^a-z0-9]+", "-", tag))
        shutil.rmtree(dest, ignore_errors=True)
        proc.run(self._b("push", "-q", tag, "oci:" + dest), env=self.env).check("buildah push")
        size, types = oci_layer_bytes(dest)
        shutil.rmtree(dest, ignore_errors=True)
        return size, types

    def store_bytes(self):
        return proc.du_bytes(os.path.join(self.dir, "root"))

    def cleanup(self):
        if self.driver is None:
            return proc.unmount_under(self.dir)
        proc.run(self._b("rm", "--all"), env=self.env, timeout=120)
        proc.run(self._b("umount", "--all"), env=self.env, timeout=120)
        return proc.unmount_under(self.dir)


def ignore_interrupts_during(fn):
    """Runs fn with SIGINT/SIGTERM deferred, so cleanup itself is not cut short."""
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        return fn()
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
