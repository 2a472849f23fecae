"""Run every benchmark on this machine and record what it ran on: one command per machine.

    python benchmarks/run.py --quick              # about 5 min on 2 quiet cores
    python benchmarks/run.py --full               # about an hour on 2 cores
    python benchmarks/run.py --full --resume      # continue an interrupted run
    python benchmarks/run.py --generate           # BENCHMARKS.md from benchmarks/results/
    python benchmarks/run.py --compare TAG_A TAG_B

Results go to ``benchmarks/results/<machine tag>/``: ``machine.json`` (CPU model, instruction
sets, cores, thread settings, library and BLAS builds, numpy's SIMD targets and a probe of its
sort, the load before and after), one ``<task>.json`` per benchmark (its command, its
structured results, its report, its headline figures, the load while it ran) with the report
as ``<task>.md``, and ``summary.md`` (the machine's tables). The benchmarks run with
``.venv-bench/bin/python`` when that environment exists (the peers: pytorch-ood,
scikit-learn, faiss; ``bash benchmarks/setup_bench_env.sh``), else with this interpreter
(peers that are missing are left out, and the report says so).

Load: before each task the runner idles a second and counts the cores other processes keep
busy (``/proc/stat``); during the task it counts the machine's busy time beyond the task's own
CPU time. A task (and the run) during which other processes used more than
``LOADED_CORES`` cores is flagged LOADED: its figures are not comparable across machines.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import _report  # noqa: E402
import _tasks  # noqa: E402

RESULTS = HERE / "results"
TEMPLATE = HERE / "BENCHMARKS.template.md"
LOADED_CORES = 0.25  # other processes' average busy cores above which a figure is flagged
MADE = ("*.json", "*.md", "*.log")  # what run.py writes into a machine folder (cache/ aside)


def cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot (steal counts as busy)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy / tick, (busy + idle + iowait) / tick


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def idle_probe(seconds: float) -> float:
    """Cores kept busy by other processes while this one sleeps ``seconds``."""
    b0, _ = cpu_seconds()
    time.sleep(seconds)
    b1, _ = cpu_seconds()
    return (b1 - b0) / seconds


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def bench_python(given: str | None) -> str:
    if given:
        return given
    venv = ROOT / ".venv-bench" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def shown(python: str) -> str:
    """The interpreter as a reader would type it: relative to the repository when inside."""
    try:
        return str(Path(python).relative_to(ROOT))
    except ValueError:
        return python


def fill(args: list[str], ctx: dict) -> list[str] | None:
    """The task's arguments with ``{cores}``, ``{real}``, ``{run}`` filled in; real-feature
    data specs and ``--real`` dropped without real features; None when ``{run}`` is missing."""
    out, skip = [], False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a == "--real" and not ctx.get("real"):
            skip = True
            continue
        if a == "--data" and not ctx.get("real") and i + 1 < len(args):
            specs = [s for s in args[i + 1].split(",") if not s.startswith("real")]
            out += ["--data", ",".join(specs)]
            skip = True
            continue
        if "{run}" in a and not ctx.get("run"):
            return None
        out.append(a.format(**{k: v for k, v in ctx.items() if v is not None}))
    return out


def run_task(task, argv: list[str], python: str, out: Path, mode: str) -> dict:
    """Run one benchmark, timing it and the machine's other load; write its files."""
    script = HERE / task.script
    command = " ".join([shown(python), f"benchmarks/{task.script}", *argv])
    print(f"[{now()}] {task.name}: {command}", flush=True)
    probe = idle_probe(0.3 if mode == "smoke" else 1.0)
    rec = {"task": task.name, "title": task.title, "mode": mode, "command": command,
           "python": python, "started": now()}  # fmt: skip
    la0 = loadavg()
    (b0, _), c0, t0 = cpu_seconds(), children_cpu(), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        js = Path(tmp) / "out.json"
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        try:
            cmd = [python, str(script), *argv, "--json", str(js)]
            p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                               timeout=task.timeout)  # fmt: skip
            rc, stdout, stderr = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            rc, stdout, stderr = -9, e.stdout or "", f"timed out after {task.timeout} s"
        doc = json.loads(js.read_text()) if js.exists() else {}
    wall = time.perf_counter() - t0
    (b1, _), c1 = cpu_seconds(), children_cpu()
    external = max(0.0, (b1 - b0) - (c1 - c0)) / wall
    rec.update(
        returncode=rc,
        seconds=wall,
        finished=now(),
        load={"before": la0, "after": loadavg(), "idle_probe_cores": probe,
              "external_cores": external, "loaded": max(external, probe) > LOADED_CORES},
        markdown=doc.get("markdown") or stdout.strip(),
        figures=doc.get("figures") or [],
        results=doc.get("results"),
    )  # fmt: skip
    if rc != 0:
        rec["note"] = f"exit {rc}: {stderr.strip().splitlines()[-1:] or ''}"
    write(out / f"{task.name}.json", json.dumps(rec, indent=1, default=float))
    write(out / f"{task.name}.md", f"## {task.title}\n\n{rec['markdown']}\n")
    write(out / f"{task.name}.log", stderr)
    print(f"    {wall:.0f} s, exit {rc}, other processes {external:.2f} cores", flush=True)
    return rec


def write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def skipped(task, out: Path, mode: str, why: str) -> None:
    rec = {"task": task.name, "title": task.title, "mode": mode, "command": "—",
           "returncode": None, "markdown": "", "figures": [],
           "note": f"not run: {why}"}  # fmt: skip
    write(out / f"{task.name}.json", json.dumps(rec, indent=1))
    print(f"[{now()}] {task.name}: not run: {why}", flush=True)


def prepare_folder(out: Path, a) -> None:
    made = [f for pat in MADE for f in out.glob(pat)] if out.exists() else []
    if made and not (a.resume or a.overwrite):
        raise SystemExit(f"run.py: error: {out} holds results; pass --resume to continue them "
                         "or --overwrite to replace them")  # fmt: skip
    if made and a.overwrite:
        for f in made:
            f.unlink()
    out.mkdir(parents=True, exist_ok=True)


def done(out: Path, name: str, mode: str) -> dict | None:
    f = out / f"{name}.json"
    if not f.exists():
        return None
    rec = json.loads(f.read_text())
    return rec if rec.get("mode") == mode and rec.get("returncode") == 0 else None


def machine_record(python: str, mode: str) -> dict:
    n = "100000" if mode == "smoke" else "1000000"
    p = subprocess.run([python, str(HERE / "_machine.py"), "--sort-n", n], capture_output=True,
                       text=True, env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))  # fmt: skip
    if p.returncode != 0:
        raise SystemExit(f"run.py: error: the machine probe failed: {p.stderr[-2000:]}")
    return json.loads(p.stdout)


def run(a) -> Path:
    mode = next(m for m in _tasks.MODES if getattr(a, m))
    python = bench_python(a.python)
    probe0, la0 = idle_probe(0.5 if mode == "smoke" else 2.0), loadavg()
    rec = machine_record(python, mode)
    tag = a.tag or rec["tag"]
    out = Path(a.results) / tag
    prepare_folder(out, a)
    started = now()
    only = set(filter(None, (a.only or "").split(",")))
    ctx = {"cores": str(rec["cores"]["usable"]), "real": None, "run": None}
    t_ext = t_all = 0.0
    for task in _tasks.TASKS:
        if mode not in task.args or (only and task.name not in only | {"features"}):
            continue
        prev = done(out, task.name, mode) if a.resume else None
        if prev is None:
            if task.name == "features":
                argv = ["--out", str(out / "cache")] + (["--data-root", a.data_root]
                                                        if a.data_root else [])  # fmt: skip
            else:
                argv = fill(task.args[mode], ctx)
            if argv is None:
                skipped(task, out, mode, "needs a run folder (the features task made none)")
                continue
            prev = run_task(task, argv, python, out, mode)
            t_ext += prev["load"]["external_cores"] * prev["seconds"]
            t_all += prev["seconds"]
        if task.name == "features" and prev.get("returncode") == 0 and prev.get("results"):
            ctx["real"], ctx["run"] = prev["results"]["real"], prev["results"]["run"]
    ext = t_ext / t_all if t_all else 0.0
    rec["run"] = {"mode": mode, "started": started, "finished": now(), "python": python,
                  "load": {"before": la0, "after": loadavg(), "idle_probe_cores": probe0,
                           "external_cores": ext,
                           "loaded": max(ext, probe0) > LOADED_CORES}}  # fmt: skip
    write(out / "machine.json", json.dumps(rec, indent=1))
    summary(out)
    print(f"results: {out}")
    return out


def summary(out: Path) -> None:
    ms = {k: v for k, v in _report.machines(out.parent).items() if k == out.name}
    parts = [f"# Benchmarks on {out.name}", "", _report.machines_table(ms), ""]
    for task in _tasks.TASKS:
        if task.name in ms[out.name]["tasks"]:
            parts += [f"## {task.title}", "", _report.task_section(task.name, ms), ""]
    write(out / "summary.md", "\n".join(parts))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = p.add_mutually_exclusive_group()
    for m in _tasks.MODES:
        g.add_argument(f"--{m}", action="store_true", help=f"run the {m} set of benchmarks")
    p.add_argument("--resume", action="store_true", help="keep the tasks already done")
    p.add_argument("--overwrite", action="store_true", help="replace this machine's results")
    p.add_argument("--tag", help="the machine folder's name (default: from the CPU and cores)")
    p.add_argument("--results", default=str(RESULTS), help="the results root")
    p.add_argument("--only", help="comma-separated task names (default: all of the mode)")
    p.add_argument("--python", help="the interpreter for the benchmarks")
    p.add_argument("--data-root", help="where Fashion-MNIST / MNIST are (real KNN features)")
    p.add_argument("--generate", action="store_true", help="write BENCHMARKS.md from results")
    p.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"), help="for --generate")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), help="diff two machines' results")
    a = p.parse_args(argv)
    if a.compare:
        dirs = [Path(x) if Path(x).is_dir() else Path(a.results) / x for x in a.compare]
        for d in dirs:
            if not (d / "machine.json").is_file():
                raise SystemExit(f"run.py: error: {d}: no machine.json (not a results folder)")
        print(_report.compare(*dirs))
        return
    if any(getattr(a, m) for m in _tasks.MODES):
        run(a)
    if a.generate:
        text = _report.generate(TEMPLATE.read_text(), Path(a.results))
        write(Path(a.output), text)
        print(f"wrote {a.output}")
    elif not any(getattr(a, m) for m in _tasks.MODES):
        p.error("give --quick, --full, --smoke, --generate or --compare A B")


if __name__ == "__main__":
    main()
