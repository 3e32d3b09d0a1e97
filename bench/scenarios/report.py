"""Turns the runner's results into bench/results/<name>.{json,md,png}: statistics per tool,
paired Buildah/Kiln speedups with their targets, and a gnuplot chart of the speedups."""

import json
import math
import os
import shutil
import statistics
import subprocess


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def summarize(case):
    """Adds per-tool stats and the paired speedup (Buildah / Kiln, run i against run i) to a
    case, plus pass/miss against its target (median speedup >= target)."""
    metric = case["metric"]
    case["stats"] = {tool: stats([r.get(metric) for r in runs])
                     for tool, runs in case["runs"].items()}
    kiln = case["runs"]["kiln"]
    other = case["runs"][case["versus"]]
    pairs = [o[metric] / k[metric] for k, o in zip(kiln, other)
             if k.get(metric) and o.get(metric) is not None]
    case["speedup"] = stats(pairs)
    case["speedup_pairs"] = pairs
    target = case.get("target")
    if target is None or case["speedup"] is None:
        case["result"] = "-" if target is None else "no data"
    else:
        case["result"] = "pass" if case["speedup"]["median"] >= target else "MISS"
    return case


def _s(seconds):
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def _x(ratio):
    if ratio is None:
        return "-"
    return f"{ratio:.1f}x" if ratio >= 10 else f"{ratio:.2f}x"


def _bytes(n):
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024.0
    return str(n)


def _target_text(case):
    t = case.get("target")
    if t is None:
        return "-"
    return ">= %gx" % t if t != 1 else "no slower (>= 1x)"


def markdown(res):
    m = res["meta"]
    out = [f"# Kiln vs Buildah, {m['date']}{' (quick smoke run)' if m['quick'] else ''}", ""]
    if m.get("under_load"):
        out += [f"**Measured under load** (load average {m['load_start']} at start, "
                f"{m['load_end']} at end, on {m['cpus']} CPUs): wall times are inflated and "
                "noisy; the ratios are still paired run by run. Re-run on a quiet machine for "
                "the headline figures.", ""]
    if m.get("note"):
        out += [f"Note: {m['note']}", ""]
    k, b = res["tools"]["kiln"], res["tools"]["buildah"]
    out += [
        f"Command: `{m['command']}` ({m['elapsed_s'] / 60:.1f} min in all). Machine: "
        f"{m['cpus']} CPUs, kernel {m['kernel']}, {'root' if not m['rootless'] else 'rootless (uid %d)' % m['uid']}. "
        f"Load average {m['load_start']} at start, {m['load_end']} at end.",
        "",
        f"- Kiln: commit `{m['kiln_commit']}`, Release build `{m['build_dir']}`, kilnctl "
        f"through a private kilnd, `--progress plain`, RUN network {k.get('network')}.",
        f"- Buildah: {b.get('version')}, storage driver **{b.get('storage_driver')}**, runtime "
        f"{b.get('runtime')}, `{b.get('flags')}`, own `--root`/`--runroot`. Network: "
        f"{b.get('network')}.",
        "- Each figure is a whole CLI process (fork/exec to exit). Tools are interleaved run by "
        "run (Kiln, Buildah, Kiln, Buildah, ...); a speedup is Buildah's time / Kiln's time for "
        "the same pair, reported as the median over pairs with min and max.",
        "- Cold = empty build cache, base images present (Kiln: `image rm` + `prune --all`; "
        "Buildah: `rmi` of everything but the base images + `rmi --prune`), checked per run "
        "(no step may be a cache hit).",
        "",
        "## Summary",
        "",
        "| scenario | measure | Kiln (median) | Buildah (median) | speedup median (min-max) "
        "| target | result |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in res["cases"]:
        ks, bs, sp = c["stats"].get("kiln"), c["stats"].get(c["versus"]), c["speedup"]
        out.append(
            f"| {c['scenario']} | {c['measure']} | {_s(ks and ks['median'])} | "
            f"{_s(bs and bs['median'])} | "
            + (f"{_x(sp['median'])} ({_x(sp['min'])}-{_x(sp['max'])})" if sp else "-")
            + f" | {_target_text(c)} | {c['result']} |")
    out += ["", f"![speedup chart]({m['name']}.png)", ""]
    for scen in res["scenario_order"]:
        cases = [c for c in res["cases"] if c["scenario"] == scen]
        out += [f"## {scen}", "", res["scenario_notes"].get(scen, ""), "",
                "| measure | tool | median | min | max | n | speedup vs Kiln (median, min-max) |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for c in cases:
            for tool, st in c["stats"].items():
                if tool == "kiln" and c is not cases[0] and c["measure"] == cases[0]["measure"]:
                    continue
                sp = c["speedup"] if tool == c["versus"] else None
                out.append(
                    f"| {c['measure']} | {tool} | {_s(st and st['median'])} | "
                    f"{_s(st and st['min'])} | {_s(st and st['max'])} | "
                    f"{st['n'] if st else 0} | "
                    + (f"{_x(sp['median'])} ({_x(sp['min'])}-{_x(sp['max'])}), target "
                       f"{_target_text(c)}: **{c['result']}**" if sp else "") + " |")
        out.append("")
        for c in cases:
            if c["result"] == "MISS" and c.get("profile"):
                out += [f"Missed: {c['measure']}. Where Kiln's time went (median run): "
                        f"{c['profile']}", ""]
    out += ["## Memory, image size, disk", "",
            "| scenario | Kiln peak (kilnd VmHWM + kilnctl maxrss) | Buildah peak (maxrss "
            "incl. children) | Kiln image | Buildah image | Kiln store | Buildah store |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for scen in res["scenario_order"]:
        mem = res["memory"].get(scen, {})
        size = res["image_sizes"].get(scen, {})
        disk = res["disk"].get(scen, {})
        out.append(f"| {scen} | {_bytes(_kb(mem.get('kiln_kb')))} | "
                   f"{_bytes(_kb(mem.get('buildah_kb')))} | "
                   f"{_bytes(size.get('kiln', {}).get('bytes'))} | "
                   f"{_bytes(size.get('buildah', {}).get('bytes'))} | "
                   f"{_bytes(disk.get('kiln'))} | {_bytes(disk.get('buildah'))} |")
    unpack = {}
    for seconds in res.get("kiln_unpack_seconds", []):
        for ref, s in seconds.items():
            unpack.setdefault(ref, []).append(s)
    out += ["",
            "Peak memory: Kiln's is kilnd's VmHWM (reset per scenario through clear_refs) plus "
            "the largest kilnctl maxrss; RUN processes are not in it. Buildah's is the largest "
            "wait4 maxrss of a `buildah bud` process, which includes its descendants (runtime "
            "and RUN processes: for the Go scenarios, the Go compiler dominates it). kilnd's own "
            "maxrss at exit including its reaped children (sandboxes, compilers): "
            f"{_bytes(_kb(res['memory'].get('kilnd_with_children_kb')))}.",
            "",
            "Image size: the sum of the compressed layer sizes in the manifest of the final "
            "image, exported as an OCI layout (Kiln: `--output type=oci,tar=false`; Buildah: "
            "`buildah push oci:`). Layer types: "
            + ", ".join(sorted({t for s in res["image_sizes"].values() for v in s.values()
                                for t in v.get("types", [])})) + ".",
            "",
            "Store: `du -sb` of each tool's whole store (base images included) at the end of "
            "the scenario, after its last build.",
            "",
            "Cold builds start with the base images ready in both tools: Buildah unpacks layers "
            "when it pulls; Kiln imports compressed blobs and unpacks a base image's layers on "
            "first use, into snapshots that are part of its build cache, so after each cold "
            "reset the runner unpacks the base images the scenario uses with an untimed "
            "FROM-only build. Those unpacks took (median, whole `kilnctl build`): "
            + (", ".join(f"{ref} {_s(statistics.median(v))}" for ref, v in sorted(unpack.items()))
               or "-") + ".", ""]
    if res.get("warnings"):
        out += ["## Warnings", ""] + [f"- {w}" for w in res["warnings"]] + [""]
    return "\n".join(out)


def _kb(kb):
    return None if kb is None else kb * 1024


def _short(measure):
    """A chart label for a measure."""
    measure = measure.replace("welcome.go edited", "edited").replace("main.go edited", "edited")
    for long, short in (("edited: outside the compile step", "edit, outside compile"),
                        ("edited", "edit"),
                        ("no-op rebuild", "no-op"), ("one file changed", "1 file changed"),
                        ("cold, vs buildah ", "cold vs ")):
        measure = measure.replace(long, short)
    return measure


def plot(res, png):
    """Log-scale bars of the median speedup per case (min-max as error bars), the target of each
    case as a marker and parity (1x) as a dashed line. Returns an error string or None."""
    if shutil.which("gnuplot") is None:
        return "gnuplot is not installed (tools/setup.sh installs gnuplot-nox)"
    rows = [c for c in res["cases"] if c["speedup"]]
    if not rows:
        return "no speedups to plot"
    data = png[:-4] + ".dat"
    with open(data, "w") as f:
        for i, c in enumerate(rows):
            sp = c["speedup"]
            kind = {"pass": 1, "MISS": 2}.get(c["result"], 0)
            target = c.get("target")
            label = f"{c['scenario']}: {_short(c['measure'])}".replace('"', "'")
            f.write(f'{i} "{label}" {sp["median"]} {sp["min"]} {sp["max"]} {kind} '
                    f'{target if target is not None else "NaN"}\n')
    top = max(max(c["speedup"]["max"], c.get("target") or 0) for c in rows)
    low = min(min(c["speedup"]["min"], c.get("target") or 1) for c in rows)
    ymax = 10 ** math.ceil(math.log10(top * 1.5))
    ymin = 10 ** math.floor(math.log10(max(low * 0.8, 1e-3)))
    title = (f"Kiln vs Buildah {res['meta']['date']}: Buildah time / Kiln time, median of paired "
             f"runs (bars: min-max){' - MEASURED UNDER LOAD' if res['meta'].get('under_load') else ''}")
    script = f"""
set terminal pngcairo size 1400,760 font "sans,10"
set output "{png}"
set title "{title}" noenhanced
set logscale y
set yrange [{ymin}:{ymax}]
set ylabel "speedup (x, log scale; > 1 = Kiln faster)"
set xrange [-0.7:{len(rows) - 0.3}]
set style fill solid 0.75 border -1
set boxwidth 0.6
set xtics rotate by -35 left noenhanced
set grid ytics mytics
set key outside top center horizontal
set bmargin 9
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb "black"
plot "{data}" using 1:($6 == 1 ? $3 : NaN):xtic(2) with boxes lc rgb "#2e8b57" title "target met", \\
     "" using 1:($6 == 2 ? $3 : NaN) with boxes lc rgb "#cc3333" title "target missed", \\
     "" using 1:($6 == 0 ? $3 : NaN) with boxes lc rgb "#9f9f9f" title "no target", \\
     "" using 1:3:4:5 with yerrorbars lc rgb "black" pt -1 title "min-max of the pairs", \\
     "" using 1:7 with points pt 9 ps 2 lc rgb "blue" title "target (median speedup >=)", \\
     "" using 1:3:(sprintf("%.1fx", $3)) with labels offset 0,0.8 notitle
"""
    r = subprocess.run(["gnuplot"], input=script.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, check=False)
    os.unlink(data)
    if r.returncode != 0:
        return "gnuplot failed: " + r.stdout.decode(errors="replace")[-500:]
    return None


def write(res, out_dir):
    name = res["meta"]["name"]
    os.makedirs(out_dir, exist_ok=True)
    paths = {ext: os.path.join(out_dir, f"{name}.{ext}") for ext in ("json", "md", "png")}
    error = plot(res, paths["png"])
    if error:
        res.setdefault("warnings", []).append("chart: " + error)
    with open(paths["json"], "w") as f:
        json.dump(res, f, indent=1, sort_keys=False)
        f.write("\n")
    with open(paths["md"], "w") as f:
        f.write(markdown(res))
    return paths
