"""Score a trained run folder (``energy-ood train`` / ``finetune``) against named OOD sets.

The run's own data split is rebuilt from ``run.json``; OOD sets are named sets or a user's
files (``ood_paths``: image folders, shards, file lists, IDX or npz, in the run's ID transform);
logits and features are extracted once per set; feature scorers are fitted on (a seeded subset
of) the run's ID training images; ``weighted_ebo`` reads the class weights the run learned
(``class_weights.npy``, VOS). Each OOD set is scored whole (no random draws): one row of
metrics per set, and their mean.
"""

from __future__ import annotations

import io

import numpy as np

from .._validate import InputError
from ..data import bad_images
from ..data.ood_files import load_ood_input
from ..io.atomic_write import atomic_write_bytes
from ..metrics import ood_metrics
from ..metrics.accuracy_gate import DEFAULT_RATIO, enforce, id_accuracy
from ..reporting.tables import mean_row
from ..train.runs import load_run, run_class_weights
from .ood_inputs import load_ood_tensors
from .scoring import method_label, score_on_sets


def _ood_inputs(data, ood_sets, ood_paths, n_ood, seed: int, data_root, mode="auto") -> dict:
    """The named OOD sets (``n_ood`` images each, default as many as the ID test set) and the
    user's files (every image) as model inputs of ``data``'s transform and normalisation; image
    files that ``mode`` streams (``"stream"``, or ``"auto"`` beyond the memory limit) come as
    StreamSplits decoded batch by batch."""
    oods = load_ood_tensors(ood_sets, n_ood or len(data.x_test), data, seed + 1, data_root)
    for name, path in (ood_paths or {}).items():
        if name in oods:
            raise InputError(f"OOD set name {name!r} given twice")
        oods[name] = load_ood_input(path, n_ood, data, seed + 1, mode)
    return oods


def _id_error(logits, data) -> float | None:
    """The ID test error (exact), None when the model's outputs are not the data's classes."""
    if logits.shape[1] != len(data.classes):
        return None
    return int((logits.argmax(1) != data.y_test).sum()) / len(data.y_test)


def evaluate_model(
    model,
    data,
    ood_sets: list[str],
    methods: list[dict],
    data_root=None,
    n_ood: int | None = None,
    fit_samples: int = 10000,
    seed: int = 0,
    runtime=None,
    ood_paths: dict[str, str] | None = None,
    head: str | None = None,
    gate_ratio: float = DEFAULT_RATIO,
    strict: bool = False,
    class_weights=None,
    **metric_kw,
) -> dict | None:
    """{method label: {set: metrics, ..., "mean": metrics}} of ``model`` on ID data ``data``
    (an IDData) and the OOD sets, plus its ID test error (None when the model's classes are
    not the data set's). Before any scorer runs, the ID-accuracy gate (``gate``; its
    ``warning`` line, or an InputError with ``strict``). In a torchrun job the extraction is
    sharded; rank 0 returns the results, the others None."""
    if runtime is not None:
        model.to(runtime.device)
    mode = runtime.data_mode if runtime is not None else "auto"
    oods = _ood_inputs(data, ood_sets, ood_paths, n_ood, seed, data_root, mode)
    gate = {}

    def check(scored):
        g = id_accuracy(scored.logits("id"), data.y_test, gate_ratio,
                        context=data.extra.get("normalize", ""))  # fmt: skip
        if g is not None and len(data.classes) == g.n_classes:
            gate["record"], gate["warning"] = g.record(), enforce(g, strict)

    raw, scored = score_on_sets(model, data, oods, methods, fit_samples, seed, runtime, head,
                                check, class_weights)  # fmt: skip
    if raw is None:
        return None
    results = {}
    for spec in methods:
        r = raw[method_label(spec)]
        rows = {s: ood_metrics(r["id"], r["ood"][s], **metric_kw) for s in oods}
        rows["mean"] = mean_row(rows)
        results[method_label(spec)] = rows
    return {
        "warning": gate.get("warning"),
        "gate": gate.get("record"),
        "results": results,
        "id_test_error": _id_error(scored.logits("id"), data),
        "ood_sets": list(oods),
        "raw": {label: {"id": r["id"], "ood": r["ood"]} for label, r in raw.items()},
        "data": data.describe(),
        "skipped_images": bad_images.skipped(),  # ID and OOD image files left out, if any
    }


def evaluate_run(run_dir, ood_sets, methods, data_root=None, runtime=None, **kw) -> dict | None:
    """:func:`evaluate_model` of a run folder's model on its own data split."""
    mode = runtime.data_mode if runtime is not None else "auto"
    model, data, run = load_run(run_dir, data_root, data_mode=mode)
    kw.setdefault("class_weights", run_class_weights(run_dir))
    res = evaluate_model(model, data, ood_sets, methods, data_root, runtime=runtime, **kw)
    if res is not None:
        res["run"] = run
    return res


def save_scores(path: str, raw: dict) -> None:
    """Per-image scores as one .npz: ``METHOD/id`` and ``METHOD/SET`` arrays."""
    arrays = {}
    for label, r in raw.items():
        arrays[f"{label}/id"] = np.asarray(r["id"])
        for name, s in r["ood"].items():
            arrays[f"{label}/{name}"] = np.asarray(s)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def results_record(res: dict, conv: dict, normalization, run: dict) -> dict:
    """What ``evaluate --json`` writes for a model: the gate's warning first, the convention,
    the metrics, the ID test error, the gate, the normalisation, skipped images, the run."""
    return {
        "warning": res["warning"],
        "convention": conv,
        "results": res["results"],
        "id_test_error": res["id_test_error"],
        "id_accuracy_gate": res["gate"],
        "normalization": normalization,
        **({"skipped_images": res["skipped_images"]} if res["skipped_images"] else {}),
        "run": run,
    }
