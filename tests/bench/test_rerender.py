"""scripts/rerender_results.py: the committed reports are what their results.json render to
(--check), and --check exits 1 when a report differs."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "rerender_results.py"


def _run(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], env=env,
                          capture_output=True, text=True)  # fmt: skip


def test_committed_reports_are_current():
    folders = [ROOT / "docs" / "results" / n for n in ("fmnist", "holdout_fmnist", "walkthrough")]
    r = _run("--check", *folders)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def test_check_fails_on_an_edited_report_and_rerender_fixes_it(tmp_path):
    folder = tmp_path / "walkthrough"
    shutil.copytree(ROOT / "docs" / "results" / "walkthrough", folder)
    md = folder / "report.md"
    md.write_text(md.read_text().replace("## Convention", "## Convention (edited)"))
    r = _run("--check", folder)
    assert r.returncode == 1 and "differs" in r.stdout
    assert _run(folder).returncode == 0 and _run("--check", folder).returncode == 0


def test_a_bad_results_file_is_one_line_exit_2(tmp_path):
    (tmp_path / "results.json").write_text("{not json")
    r = _run(tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
