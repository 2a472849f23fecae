"""BENCHMARKS.md from ``benchmarks/results/<machine>/``, and the diff of two machines.

* ``generate(template, root)``: the template's ``{{machines}}`` becomes a table of every
  machine with results, ``{{task:NAME}}`` every machine's results of that task (machine by
  machine: the machine, the command that made them, the load during the run, then the
  benchmark's own report); the rest of the template is copied as it is.
* ``compare(dir_a, dir_b)``: every figure both machines measured (same key), side by side,
  with B / A.

Results are what ``run.py`` writes: ``machine.json`` and one ``<task>.json`` per benchmark
(``{"task", "title", "mode", "command", "returncode", "markdown", "figures", "load", ...}``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

PLACEHOLDER = re.compile(r"\{\{(machines|task:[a-z_-]+)\}\}")


def machines(root: Path) -> dict[str, dict]:
    """{tag: machine record with its tasks under "tasks"} for every folder with a machine.json."""
    out = {}
    for d in sorted(p for p in Path(root).iterdir() if (p / "machine.json").is_file()):
        rec = json.loads((d / "machine.json").read_text())
        rec["tasks"] = {}
        for f in sorted(d.glob("*.json")):
            if f.name != "machine.json":
                t = json.loads(f.read_text())
                rec["tasks"][t["task"]] = t
        out[d.name] = rec
    return out


def describe(rec: dict) -> str:
    """One line: CPU, cores, memory, GPU."""
    cpu = rec["cpu"]
    arch = f" ({cpu['microarchitecture']})" if cpu.get("microarchitecture") else ""
    gpu = f", GPU {', '.join(rec['blas']['cuda'])}" if rec["blas"].get("cuda") else ""
    c = rec["cores"]
    return f"{cpu['model_name']}{arch}, {c['usable']} cores usable, {c['memory_gib']} GiB{gpu}"


def _isa(rec: dict) -> str:
    flags = rec["cpu"]["flags_of_note"]
    wide = [f for f in flags if f.startswith(("avx512", "amx"))]
    base = "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "pre-AVX2")
    extra = ", ".join(f.replace("avx512_", "").replace("avx512", "") for f in wide[1:])
    return base + (f" ({extra})" if extra else "")


def _sort_cell(rec: dict) -> str:
    s = rec["sort"]
    secs = s["seconds"]
    parts = [f"{k.replace('_', ' ')} {v * 1e3:.1f} ms" for k, v in secs.items() if v]
    text = f"np.sort of {s['n']:.0e} float32: " + ", ".join(parts)
    return text + (f". {s['note']}" if s.get("note") else "")


def _libs(rec: dict) -> str:
    v, b = rec["versions"], rec["blas"]
    pools = ", ".join(f"{p['internal_api']} {p.get('architecture') or ''}".strip()
                      for p in (b.get("threadpools") or []))  # fmt: skip
    names = ("numpy", "torch", "numba", "scikit-learn", "faiss-cpu", "pytorch-ood")
    libs = ", ".join(f"{k} {v[k]}" for k in names if v.get(k))
    return (f"Python {v['python']}; {libs}; torch BLAS {b['torch_blas']} "
            f"(CPU capability {b['torch_cpu_capability']}, {b['torch_threads']} threads); "
            f"numpy BLAS {b['numpy_blas']}; thread pools: {pools}")  # fmt: skip


def machines_table(ms: dict) -> str:
    if not ms:
        return "_No results yet: run `benchmarks/run.py --quick`._"
    lines = ["| machine | CPU | instruction sets | libraries | numpy's sort | run |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for tag, rec in ms.items():
        run = rec.get("run", {})
        when = f"`run.py --{run.get('mode', '?')}`, {run.get('finished', '?')[:10]}"
        lines.append(f"| {tag} | {describe(rec)} | {_isa(rec)} | {_libs(rec)} | "
                     f"{_sort_cell(rec)} | {when}; {load_text(run.get('load'))} |")  # fmt: skip
    return "\n".join(lines)


def load_text(load: dict | None) -> str:
    """What else ran: the load average and the cores other processes used meanwhile."""
    if not load:
        return "load not recorded"
    ext = load.get("external_cores")
    flag = " **LOADED: figures not comparable**" if load.get("loaded") else ""
    avg = f"load average {load.get('before', '?')} before, {load.get('after', '?')} after"
    return (
        avg
        + (f"; other processes used {ext:.2f} cores meanwhile" if ext is not None else "")
        + flag
    )


def _strip_title(md: str) -> str:
    """The report without its own first heading (the template gives the section)."""
    lines = (md or "").strip().splitlines()
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines)


def task_section(name: str, ms: dict) -> str:
    out = []
    for tag, rec in ms.items():
        t = rec["tasks"].get(name)
        if t is None:
            continue
        out.append(f"#### {tag}: {describe(rec)}")
        out.append("")
        status = "" if t.get("returncode") == 0 else f" (exit {t.get('returncode')})"
        out.append(f"Made by `{t['command']}`{status} in `run.py --{t['mode']}`; "
                   f"{load_text(t.get('load'))}.")  # fmt: skip
        out.append("")
        body = _strip_title(t.get("markdown") or "")
        out.append(body if body else f"_{t.get('note') or 'no report'}_")
        out.append("")
    return "\n".join(out).rstrip() or "_Not run on any machine yet._"


def generate(template: str, root: Path) -> str:
    ms = machines(root)

    def fill(m: re.Match) -> str:
        key = m.group(1)
        return machines_table(ms) if key == "machines" else task_section(key[5:], ms)

    return PLACEHOLDER.sub(fill, template)


def _figures(rec: dict) -> dict[str, dict]:
    return {f["key"]: f for t in rec["tasks"].values() for f in t.get("figures") or []}


def compare(dir_a: Path, dir_b: Path) -> str:
    """Markdown: the figures both machines have, side by side, and B / A."""
    a, b = (machines(Path(d).parent)[Path(d).name] for d in (dir_a, dir_b))
    fa, fb = _figures(a), _figures(b)
    ta, tb = Path(dir_a).name, Path(dir_b).name
    out = [f"A = {ta}: {describe(a)}  ", f"B = {tb}: {describe(b)}  ",
           f"A: {load_text(a.get('run', {}).get('load'))}  ",
           f"B: {load_text(b.get('run', {}).get('load'))}", "",
           "| figure | unit | A | B | B / A |", "|---|---|---:|---:|---:|"]  # fmt: skip
    common = [k for k in fa if k in fb]
    for k in common:
        va, vb = fa[k]["value"], fb[k]["value"]
        ratio = f"{vb / va:.2f}" if va and vb is not None else "—"
        out.append(f"| {fa[k]['label']} | {fa[k]['unit']} | {_num(va)} | {_num(vb)} | {ratio} |")
    only = sorted(set(fa) ^ set(fb))
    out.append("")
    out.append(f"{len(common)} figures in both; {len(only)} in one only"
               + (f" (e.g. {', '.join(only[:5])})" if only else "") + ".")  # fmt: skip
    return "\n".join(out)


def _num(v) -> str:
    if v is None:
        return "—"
    return f"{v:.4g}"
