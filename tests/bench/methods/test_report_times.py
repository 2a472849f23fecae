"""The methods report's time table: recorded training time (what a resumed bench keeps) apart
from the seconds of the process that wrote the report, and the note of a resumed run."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from energy_ood.bench.methods import report
from energy_ood.bench.methods.results import from_plain

ROOT = Path(__file__).resolve().parents[3]
PLAIN = json.loads((ROOT / "docs/results/methods_fmnist/results.json").read_text())


def _res(train_s=None, total_s=None):
    plain = copy.deepcopy(PLAIN)
    if train_s is not None:
        plain["timings"]["train_s"] = train_s
    if total_s is not None:
        plain["timings"]["total_s"] = total_s
    return from_plain(plain)


def _train_s(value):
    return [{lab: value for lab in secs} for secs in PLAIN["timings"]["seconds"]]


def test_results_before_train_s_keep_their_table():
    res = _res()
    table = report._times(res)
    assert table.splitlines()[0].split("|")[2].strip() == "training seconds"
    assert report._resumed_note(res) == ""


def test_recorded_training_and_this_process_are_two_columns():
    res = _res(_train_s(100.0), total_s=600.0)  # 21 models x 100 s > 600 s: resumed
    lines = report._times(res).splitlines()
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    assert head[:3] == ["step", "training seconds (recorded epochs)", "seconds in this process"]
    total = [c.strip() for c in lines[-1].strip("|").split("|")]
    assert total[:3] == ["total", "2100.0", "600.0"]
    note = report._resumed_note(res)
    assert note.startswith("resumed:") and "35.0 min in all" in note


def test_a_run_in_one_go_has_no_note_and_a_missing_record_says_so():
    assert report._resumed_note(_res(_train_s(10.0), total_s=4000.0)) == ""
    train = _train_s(10.0)
    train[1]["vos"] = None
    res = _res(train, total_s=100.0)
    assert report._resumed_note(res) == ""
    lines = report._times(res).splitlines()
    assert any("seed 1: vos" in ln and "not recorded" in ln for ln in lines)
    assert "not recorded" in lines[-1]
