"""The two build tools, each building one case into an OCI layout directory:

- Kiln: a private kilnd (its own --root and socket in the run's temp dir), then
  `kilnctl build --output type=oci,dest=DIR,tar=false,compression=uncompressed`.
- Buildah 1.28: its own storage root and run root in the temp dir, `bud --format docker
  --identity-label=false`, then `push -D IMAGE oci:DIR`. Its OCI config lacks Healthcheck, Shell
  and OnBuild (Docker-only fields), so those come from `buildah inspect` (the Docker config).

Both import the same base images (OCI layouts) and resolve FROM locally, never from a registry.
"""

import json
import os
import shutil
import time

import proc

RUN_NETWORK = "host"


class Result:
    def __init__(self, ok, log, layout=None, docker_config=None):
        self.ok = ok
        self.log = log
        self.layout = layout
        self.docker_config = docker_config or {}


class Kiln:
    name = "kiln"

    def __init__(self, kilnctl, kilnd, work):
        for binary in (kilnctl, kilnd):
            if not os.access(binary, os.X_OK):
                raise proc.CommandError(f"find '{binary}': missing or not executable; build it "
                                        "first (cmake --build build/asan --target kilnctl kilnd)")
        self.kilnctl = kilnctl
        self.kilnd = kilnd
        self.dir = os.path.join(work, "kiln")
        self.addr = "unix://" + os.path.join(self.dir, "kilnd.sock")
        self.daemon = None

    def _ctl(self, *args):
        return [self.kilnctl, *args, "--addr", self.addr]

    def setup(self, images):
        os.makedirs(self.dir, mode=0o700)
        config = os.path.join(self.dir, "kilnd.toml")
        with open(config, "w") as f:
            f.write("# tests/differential: defaults\n")
        self.daemon = proc.start_daemon(
            [self.kilnd, "--addr", self.addr, "--root", os.path.join(self.dir, "root"),
             "--config", config], os.path.join(self.dir, "kilnd.log"))
        deadline = time.monotonic() + 90
        while proc.run(self._ctl("du"), timeout=30).code != 0:
            if self.daemon.poll() is not None:
                raise proc.CommandError(f"start kilnd: exited with {self.daemon.returncode}; "
                                        f"see {self.dir}/kilnd.log")
            if time.monotonic() > deadline:
                raise proc.CommandError("start kilnd: no answer after 90 s")
            time.sleep(0.1)
        for layout, ref in images:
            proc.run(self._ctl("image", "import", layout, "--name", ref)).check(
                f"kilnctl image import {ref}")

    def build(self, ctx, out, dockerfile=None, target=None, build_args=()):
        args = ["build", "--progress", "plain", "--output",
                f"type=oci,dest={out},tar=false,compression=uncompressed"]
        if dockerfile:
            args += ["-f", dockerfile]
        if target:
            args += ["--target", target]
        for kv in build_args:
            args += ["--build-arg", kv]
        r = proc.run(self._ctl(*args, ctx), timeout=600)
        return Result(r.code == 0, r.text, out if r.code == 0 else None)

    def cleanup(self):
        if self.daemon is not None:
            proc.stop_daemon(self.daemon)
            self.daemon = None
        return proc.unmount_under(self.dir)


class Buildah:
    name = "buildah"

    def __init__(self, work):
        if shutil.which("buildah") is None:
            raise proc.CommandError("find 'buildah': not installed (run tools/setup.sh)")
        self.dir = os.path.join(work, "buildah")
        self.root = os.path.join(self.dir, "root")
        self.driver = None
        self.env = dict(os.environ)
        self.env["XDG_RUNTIME_DIR"] = os.path.join(self.dir, "xdg-run")
        self.env["TMPDIR"] = os.path.join(self.dir, "tmp")
        self.env["BUILDAH_FORMAT"] = "docker"
        # No registries.conf lookups: every FROM is a local image (--pull=never).
        self.env["CONTAINERS_REGISTRIES_CONF"] = os.path.join(self.dir, "registries.conf")
        self.runtime = shutil.which("runc") or shutil.which("crun")

    def _b(self, *args):
        return ["buildah", "--root", self.root, "--runroot", self.root + "-run",
                "--storage-driver", self.driver, *args]

    def _run(self, *args, timeout=600):
        return proc.run(self._b(*args), env=self.env, timeout=timeout)

    def setup(self, images):
        for d in ("xdg-run", "tmp"):
            os.makedirs(os.path.join(self.dir, d), mode=0o700)
        with open(self.env["CONTAINERS_REGISTRIES_CONF"], "w") as f:
            f.write('unqualified-search-registries = ["docker.io"]\n')
        # overlay if this kernel/filesystem takes it (root), else vfs.
        errors = []
        for driver in ("overlay", "vfs"):
            self.driver = driver
            r = self._run("images", "-q", timeout=120)
            if r.code == 0:
                break
            errors.append(f"{driver}: {r.text[-300:]}")
            self._drop_store()
        else:
            raise proc.CommandError("buildah: no storage driver works: " + "; ".join(errors))
        for layout, ref in images:
            r = self._run("pull", "-q", "oci:" + layout).check(f"buildah pull {layout}")
            image_id = r.lines[-1][1].strip()
            self._run("tag", image_id, "docker.io/library/" + ref).check("buildah tag")

    def _drop_store(self):
        self._run("rm", "--all", timeout=120)
        proc.unmount_under(self.root)
        proc.unmount_under(self.root + "-run")
        for d in (self.root, self.root + "-run"):
            if d.startswith(self.dir + "/"):
                shutil.rmtree(d, ignore_errors=True)

    def build(self, ctx, out, dockerfile=None, target=None, build_args=(), tag="case"):
        args = ["bud", "--pull=never", "--format", "docker", "--identity-label=false",
                "--isolation", "oci", "--runtime", self.runtime, "--network", RUN_NETWORK,
                "-t", tag]
        if dockerfile:
            args += ["-f", dockerfile]
        if target:
            args += ["--target", target]
        for kv in build_args:
            args += ["--build-arg", kv]
        r = self._run(*args, ctx)
        if r.code != 0:
            return Result(False, r.text)
        push = self._run("push", "-q", "-D", tag, "oci:" + out)
        if push.code != 0:
            return Result(False, r.text + "\n" + push.text)
        inspect = self._run("inspect", "--type", "image", tag)
        if inspect.code != 0:
            return Result(False, r.text + "\n" + inspect.text)
        try:
            docker = json.loads(inspect.text).get("Docker", {}).get("config", {}) or {}
        except ValueError as e:
            return Result(False, f"parse 'buildah inspect {tag}': {e}")
        self._run("rmi", "-f", tag, timeout=120)
        return Result(True, r.text, out, docker)

    def cleanup(self):
        if self.driver is None:
            return proc.unmount_under(self.dir)
        self._run("rm", "--all", timeout=120)
        self._run("umount", "--all", timeout=120)
        return proc.unmount_under(self.dir)
