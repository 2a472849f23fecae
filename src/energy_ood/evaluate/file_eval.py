"""The evaluate command on files (``--id`` / ``--ood NAME=PATH``): ID and OOD logits (or
features) scored by each scorer, fitted from files with what it declares it needs (``--fit``,
``--labels``, ``--head``), or ID-ness scores taken as they are; the metrics per OOD set and
their mean."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import InputError, as_numpy_1d
from ..data.sources import load_array, read_head
from ..metrics import ood_metrics
from ..reporting.tables import mean_row
from ..score import create_scorer, fit_scorer, scorer_params
from ..score.calibrated import check_labels
from ..score.fitting import check_fit_needs


@dataclass(frozen=True)
class FitFiles:
    """ID training data of the scorers' kind, their labels and the final layer (files)."""

    fit: str | None = None
    labels: str | None = None
    head: str | None = None


def given_scores(path: str) -> np.ndarray:
    """A file of 1-D ID-ness scores."""
    arr = load_array(path)
    if arr.ndim != 1:
        raise InputError(f"{path}: --input scores expects a 1-D array, got shape {arr.shape}")
    try:
        return as_numpy_1d(arr, "scores")
    except InputError as e:
        raise InputError(f"{path}: {e}") from e


def kind_array(path: str, kind: str, widths: dict) -> np.ndarray:
    """The ``kind`` array of a file (an .npz key of that name, else its array), 2-D, with the
    same column count in every file (``widths``: kind -> (columns, first file))."""
    arr = load_array(path, kind)
    if arr.ndim != 2:
        what = "logits (samples x classes)" if kind == "logits" else f"{kind} (samples x columns)"
        raise InputError(
            f"{path}: expected 2-D {what}, got shape {arr.shape}; "
            "pass --input scores for 1-D scores"
        )
    if kind in widths and arr.shape[1] != widths[kind][0]:
        unit = "classes" if kind == "logits" else "columns"
        raise InputError(
            f"{path}: {arr.shape[1]} {unit}, but {widths[kind][1]} has {widths[kind][0]}"
        )
    widths.setdefault(kind, (arr.shape[1], path))
    return arr


def fit_from_files(scorer, files: FitFiles, widths: dict):
    """Fit ``scorer`` from files, asking it what it needs."""
    given = {"X": files.fit, "y": files.labels, "head": files.head}
    check_fit_needs(scorer, given, where=" in file mode")
    kind = scorer.fit_kind or scorer.input_kind
    X = kind_array(files.fit, kind, widths) if files.fit and "X" in scorer.fit_needs else None
    y = load_array(files.labels) if files.labels and "y" in scorer.fit_needs else None
    if y is not None:
        n = len(X) if X is not None else len(y)
        check_labels(y, n, None, f"--labels {files.labels}", "cpu")
    head = read_head(files.head) if files.head and "head" in scorer.fit_needs else None
    try:
        return fit_scorer(scorer, train={kind: X}, train_labels=y, head=head)
    except InputError as e:
        raise InputError(f"--score {scorer.name}: {e}") from e


def file_scorers(names: list[str], T: float = 1.0) -> dict:
    """{label: scorer} of the named scorers of arrays (``T`` for those that take it)."""
    out = {}
    for name in names:
        params = {"T": T} if T != 1.0 and "T" in scorer_params(name) else {}
        sc = create_scorer(name, **params)
        if sc.input_kind == "inputs":
            raise InputError(f"--score {name} scores model inputs: use --run-dir DIR")
        out[sc.name if not params else f"{sc.name}(T={T:g})"] = sc
    if not out:
        raise InputError("--score: give at least one scorer name")
    return out


def evaluate_files(
    id_path: str, oods: dict[str, str], names: list[str], *, T: float = 1.0, given: bool = False,
    fit: FitFiles | None = None, **metric_kw,
) -> dict:  # fmt: skip
    """{label: {OOD set: metrics, ..., "mean": metrics}}: of each scorer of ``names`` on the
    ID and OOD files, or (``given``) of the ID-ness scores the files hold."""
    results: dict[str, dict] = {}
    if given:
        sid = given_scores(id_path)
        rows = {n: ood_metrics(sid, given_scores(p), **metric_kw) for n, p in oods.items()}
        rows["mean"] = mean_row(rows)
        return {"given scores": rows}
    widths: dict = {}
    for label, sc in file_scorers(names, T).items():
        fit_from_files(sc, fit or FitFiles(), widths)
        scores = {}
        for name, path in (("__id__", id_path), *oods.items()):
            arr = kind_array(path, sc.input_kind, widths)
            try:
                scores[name] = sc.score(arr)
            except InputError as e:
                raise InputError(f"{path}: {e}") from e
        rows = {n: ood_metrics(scores["__id__"], scores[n], **metric_kw) for n in oods}
        rows["mean"] = mean_row(rows)
        results[label] = rows
    return results
