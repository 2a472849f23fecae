"""benchmarks/run.py: the generator of BENCHMARKS.md and the diff of two machines on made-up
results, the runner's bookkeeping, and (slow) a real ``--smoke`` run end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))
import _report as R  # noqa: E402
import run as RUN  # noqa: E402


def _machine(folder: Path, model: str, cores: int, ext: float, tasks: dict) -> None:
    folder.mkdir(parents=True)
    rec = {
        "cpu": {"model_name": model, "microarchitecture": "Zen 4",
                "flags_of_note": ["avx2", "avx512f", "avx512_bf16"]},
        "cores": {"usable": cores, "memory_gib": 24.0},
        "versions": {"python": "3.11.7", "numpy": "2.4.6", "torch": "2.13.0"},
        "blas": {"torch_blas": "mkl", "torch_cpu_capability": "AVX512", "torch_threads": cores,
                 "numpy_blas": "scipy-openblas", "threadpools": [], "cuda": []},
        "sort": {"n": 1_000_000, "seconds": {"default": 0.034, "avx512_off": 0.0057},
                 "note": "numpy's AVX-512 sort is 6.0x slower than its AVX2 sort here"},
        "run": {"mode": "quick", "finished": "2026-12-05T10:00:00+00:00",
                "load": {"before": "0.1", "after": "0.2", "external_cores": ext,
                         "loaded": ext > RUN.LOADED_CORES}},
    }  # fmt: skip
    (folder / "machine.json").write_text(json.dumps(rec))
    for name, (seconds, md) in tasks.items():
        t = {"task": name, "title": name, "mode": "quick", "returncode": 0,
             "command": f".venv-bench/bin/python benchmarks/bench_{name}.py --x",
             "markdown": f"### {name} title\n\n{md}",
             "figures": [{"key": f"{name}/ours", "label": f"{name} ours", "value": seconds,
                          "unit": "s"}],
             "load": {"before": "0.1", "after": "0.2", "external_cores": ext,
                      "loaded": ext > RUN.LOADED_CORES}}  # fmt: skip
        (folder / f"{name}.json").write_text(json.dumps(t))


@pytest.fixture
def results(tmp_path):
    _machine(tmp_path / "amd-a-2c", "AMD EPYC", 2, 0.02, {"metrics": (0.02, "| t | 20 ms |")})
    _machine(tmp_path / "intel-b-16c", "Intel Xeon", 16, 1.5,
             {"metrics": (0.01, "| t | 10 ms |"), "knn": (0.5, "| k | 0.5 s |")})  # fmt: skip
    return tmp_path


def test_generate_fills_the_template_machine_by_machine(results):
    tpl = "# B\n\n{{machines}}\n\n## M\n\nprose\n\n{{task:metrics}}\n\n## K\n\n{{task:knn}}\n"
    out = R.generate(tpl, results)
    assert "{{" not in out and "prose" in out
    table = out.split("## M")[0]
    assert "amd-a-2c" in table and "intel-b-16c" in table and "Zen 4" in table
    assert "6.0x slower" in table  # the sort probe's note names the machine's sort
    metrics = out.split("## M")[1].split("## K")[0]
    assert metrics.index("#### amd-a-2c") < metrics.index("#### intel-b-16c")
    assert "| t | 20 ms |" in metrics and "| t | 10 ms |" in metrics
    assert "metrics title" not in metrics  # the report's own heading gives way to the template's
    assert "bench_metrics.py --x" in metrics  # every figure with its command
    knn = out.split("## K")[1]
    assert "intel-b-16c" in knn and "amd-a-2c" not in knn  # only where it ran
    assert "LOADED" in knn and "1.50 cores" in knn


def test_no_results_and_unknown_task_say_so(tmp_path):
    out = R.generate("{{machines}}\n{{task:scale}}", tmp_path)
    assert "No results yet" in out and "Not run on any machine yet" in out


def test_compare_puts_common_figures_side_by_side(results):
    out = R.compare(results / "amd-a-2c", results / "intel-b-16c")
    row = [ln for ln in out.splitlines() if ln.startswith("| metrics ours")]
    assert row == ["| metrics ours | s | 0.02 | 0.01 | 0.50 |"]
    assert "1 figures in both; 1 in one only" in out and "knn/ours" in out
    assert "A = amd-a-2c" in out and "LOADED" in out


def test_compare_and_generate_from_the_command_line(results, tmp_path, capsys):
    RUN.main(["--compare", "amd-a-2c", "intel-b-16c", "--results", str(results)])
    assert "| metrics ours | s | 0.02 | 0.01 | 0.50 |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="not a results folder"):
        RUN.main(["--compare", "amd-a-2c", "nowhere", "--results", str(results)])
    out = tmp_path / "B.md"
    RUN.main(["--generate", "--results", str(results), "--output", str(out)])
    assert "intel-b-16c" in out.read_text() and "{{" not in out.read_text()


def test_fill_drops_what_is_missing():
    args = ["--data", "random,real-id", "--real", "{real}", "--threads", "{cores}"]
    assert RUN.fill(args, {"cores": "2"}) == ["--data", "random", "--threads", "2"]
    got = RUN.fill(args, {"cores": "2", "real": "f.npz"})
    assert got == ["--data", "random,real-id", "--real", "f.npz", "--threads", "2"]
    assert RUN.fill(["--run-dir", "{run}"], {"cores": "2"}) is None


def test_results_are_never_replaced_unasked(tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    (out / "cache").mkdir()

    class A:
        resume = overwrite = False

    with pytest.raises(SystemExit, match="--resume to continue them or --overwrite"):
        RUN.prepare_folder(out, A)
    A.resume = True
    RUN.prepare_folder(out, A)
    assert (out / "metrics.json").exists()
    A.resume, A.overwrite = False, True
    RUN.prepare_folder(out, A)
    assert not (out / "metrics.json").exists() and (out / "cache").exists()


def test_resume_keeps_only_finished_tasks_of_the_same_mode(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"mode": "quick", "returncode": 0}))
    (tmp_path / "b.json").write_text(json.dumps({"mode": "quick", "returncode": 1}))
    assert RUN.done(tmp_path, "a", "quick") and not RUN.done(tmp_path, "a", "full")
    assert not RUN.done(tmp_path, "b", "quick") and not RUN.done(tmp_path, "c", "quick")


@pytest.mark.slow
def test_smoke_run_writes_a_machine_folder_and_benchmarks_md(tmp_path):
    root = BENCH.parent
    env = dict(os.environ, PYTHONPATH=str(root / "src"))
    cmd = [sys.executable, str(BENCH / "run.py"), "--smoke", "--results", str(tmp_path),
           "--tag", "here", "--python", sys.executable]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    here = tmp_path / "here"
    rec = json.loads((here / "machine.json").read_text())
    assert rec["cores"]["usable"] >= 1 and rec["sort"]["seconds"]["default"] > 0
    assert "external_cores" in rec["run"]["load"]
    for task in ("metrics", "scorers", "knn"):
        t = json.loads((here / f"{task}.json").read_text())
        assert t["returncode"] == 0 and t["figures"]
        first = Path(t["command"].split()[0])  # the interpreter, shown relative to the repo
        assert os.path.samefile(first if first.is_absolute() else root / first, sys.executable)
    assert "ood_metrics" in (here / "summary.md").read_text()
    again = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert again.returncode != 0 and "--resume" in again.stderr
    out = tmp_path / "B.md"
    gen = [sys.executable, str(BENCH / "run.py"), "--generate", "--results", str(tmp_path),
           "--output", str(out)]  # fmt: skip
    assert subprocess.run(gen, env=env).returncode == 0
    assert "#### here:" in out.read_text()
