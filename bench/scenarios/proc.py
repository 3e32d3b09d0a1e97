"""Child processes for the Kiln vs Buildah runner: timed runs with line timestamps and rusage,
a registry of everything still running (so an interrupt can stop exactly our children, by
pid), and mount cleanup under a directory."""

import os
import signal
import subprocess
import threading
import time

# pid -> argv of every child this runner started and has not reaped yet.
_running = {}
_lock = threading.Lock()


class CommandError(RuntimeError):
    pass


class Run:
    """One finished process: wall time (fork/exec to reaped), CPU, peak RSS of the process and
    its reaped descendants (wait4's rusage), and its merged output with a timestamp per line
    (seconds since the run started)."""

    def __init__(self, argv, wall, code, lines, rusage):
        self.argv = argv
        self.wall = wall
        self.code = code
        self.lines = lines
        self.user = rusage.ru_utime
        self.sys = rusage.ru_stime
        self.maxrss_kb = rusage.ru_maxrss

    @property
    def text(self):
        return "\n".join(line for _, line in self.lines)

    def check(self, what):
        if self.code != 0:
            tail = "\n".join(line for _, line in self.lines[-30:])
            raise CommandError(f"{what}: '{' '.join(self.argv)}' exited with {self.code}:\n{tail}")
        return self


def _register(pid, argv):
    with _lock:
        _running[pid] = argv


def _unregister(pid):
    with _lock:
        _running.pop(pid, None)


def run(argv, env=None, timeout=900, cwd=None):
    """Runs argv in its own session (Ctrl-C reaches only the runner, which then stops it), with
    stdout+stderr merged and read line by line. Kills it after `timeout` seconds."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
    _register(p.pid, argv)
    timer = threading.Timer(timeout, _kill, args=(p.pid,))
    timer.daemon = True
    timer.start()
    lines = []
    try:
        for raw in p.stdout:
            lines.append((time.perf_counter() - t0,
                          raw.decode("utf-8", "replace").rstrip("\r\n")))
        _, status, rusage = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
        p.stdout.close()
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)  # keeps Popen from waiting again
    _unregister(p.pid)
    return Run(argv, wall, p.returncode, lines, rusage)


def start_daemon(argv, log_path, env=None):
    """Starts a long-lived child (its own session, output to log_path); returns the Popen."""
    log = open(log_path, "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                         start_new_session=True)
    log.close()
    _register(p.pid, argv)
    return p


def stop_daemon(p, grace=60):
    """SIGTERM, wait up to `grace` s, then SIGKILL. Returns wait4's rusage (peak RSS of the
    daemon and every descendant it reaped), or None if it was already reaped."""
    if p is None or p.returncode is not None:
        return None
    try:
        os.kill(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace
    while True:
        try:
            pid, status, rusage = os.wait4(p.pid, os.WNOHANG)
        except ChildProcessError:  # already reaped (stop_all)
            _unregister(p.pid)
            return None
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            _unregister(p.pid)
            return rusage
        if time.monotonic() > deadline:
            _kill(p.pid)
            _, status, rusage = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            _unregister(p.pid)
            return rusage
        time.sleep(0.05)


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop_all(grace=20):
    """Stops every child still registered (SIGTERM, then SIGKILL after `grace` s), by pid."""
    with _lock:
        pids = list(_running)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    for pid in pids:
        while True:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done == pid:
                break
            if time.monotonic() > deadline:
                _kill(pid)
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
                break
            time.sleep(0.05)
        _unregister(pid)


def mounts_under(prefix):
    """Mount points at or below `prefix` in our mount namespace, deepest first."""
    prefix = os.path.realpath(prefix)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split(" ")[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(found, key=lambda m: m.count("/"), reverse=True)


def unmount_under(prefix):
    """Detaches every mount below `prefix` (left over by an interrupted tool). Returns them."""
    left = mounts_under(prefix)
    for point in left:
        subprocess.run(["umount", "-l", point], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    return left


def output(argv, env=None, timeout=300):
    """Runs a helper command and returns its stdout; raises CommandError on failure."""
    r = run(argv, env=env, timeout=timeout)
    r.check("helper")
    return r.text


def du_bytes(path):
    r = subprocess.run(["du", "-sb", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       check=False)
    try:
        return int(r.stdout.split()[0])
    except (IndexError, ValueError):
        return None
