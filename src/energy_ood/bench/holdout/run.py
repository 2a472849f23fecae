"""Hold-out-class (semantic anomaly) protocol, after Ahmed & Courville (AAAI 2020).

For each class c of a K-class data set and each trial (seed), train a classifier on the other
K-1 classes; at test time the held-out class is the anomaly among the full test set. Average
precision with the anomaly as the positive class and anomaly score = -ID-ness; the skew
(fraction of anomalies) is what a random detector scores. Accuracy is measured on the test
images of the K-1 seen classes. Variants per (class, trial): ``plain`` (cross-entropy),
``center-mask`` (the paper's ablation: a random 16x16 square inside the central 21x21 region
zeroed, scaled to the image size; ``train.center_mask = true``) and ``rotation`` (the
rotation-prediction head, class head on unrotated images only; ``rotation = true``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..._validate import InputError
from ...data.splits import holdout_class_split
from ...evaluate.scoring import method_label
from ...metrics import average_precision
from ...metrics.accuracy_gate import GateResult, enforce
from ...models import create_model
from ...runtime.progress import log
from ...runtime.provenance import run_metadata
from ...score import create_scorer
from ...train import Trainer
from ...train.loop import predict_logits
from ...train.runs import prepare_id
from ..sections import bench_runtime, check_config, on_runtime
from .claims import holdout_claims
from .config import HoldoutConfig
from .disclosure import (
    claim_subset,
    draw_subset,
    holdout_departures,
    subset_records,
    training_record,
    trial_seed,
)
from .results import HoldoutResults


def holdout_scores(
    model, x_test: torch.Tensor, methods: list[dict], *, std=None, fit_x=None, fit_y=None
) -> dict[str, np.ndarray]:
    """ID-ness scores of the full test set for each method spec. Each scorer is fitted with
    what it declares (``fit_scorer``): ``std`` (the input normalisation, for ODIN's pixel-unit
    eps) and, for scorers that learn from ID data, ``fit_x`` / ``fit_y`` (training images and
    labels); a scorer whose needs are not given says so (InputError)."""
    from ...score import FitSource, ModelAdapter, fit_scorer

    adapter = ModelAdapter(model)
    cache: dict = {}

    def outputs(name, x):
        if name not in cache:
            cache[name] = adapter.extract(x, desc=f"features {name}")
        return cache[name]

    def data(name, x, kind):
        if kind == "inputs":
            return x
        return outputs(name, x)[0 if kind == "logits" else 1]

    train = {}
    if fit_x is not None:
        train = {k: (lambda k=k: data("fit", fit_x, k)) for k in ("logits", "features", "inputs")}
    source = FitSource(train=train, train_labels=fit_y, head=adapter.head, model=model, std=std)
    out = {}
    for spec in methods:
        params = {k: v for k, v in spec.items() if k not in ("name", "label")}
        label = spec.get("label", spec["name"])
        sc = fit_scorer(create_scorer(spec["name"], **params), source)
        out[label] = sc.score(data("test", x_test, sc.input_kind))
    return out


def _classes(cfg: HoldoutConfig, data) -> list[int]:
    classes = cfg.classes if cfg.classes is not None else list(range(len(data.classes)))
    for c in classes:
        if c >= len(data.classes):
            raise InputError(
                f"classes: {c} is not a class of {data.name} (0..{len(data.classes) - 1})"
            )
    return classes


def _train(cfg: HoldoutConfig, rt, data, x, y, run_seed: int, variant: str, run_dir, resume):
    """One classifier of the K-1 seen classes, trained (or resumed) in ``run_dir``."""
    torch.manual_seed(run_seed)
    model = create_model(
        cfg.model.name,
        num_classes=len(data.classes) - 1,
        in_channels=data.channels,
        rotation_head=variant == "rotation",
    )
    extra = {"method": "rotation", "lam": cfg.train.rotation_lambda} if (
        variant == "rotation") else {"center_mask": variant == "center-mask"}  # fmt: skip
    tc = cfg.train.train_config(run_seed, **extra)
    Trainer(model, on_runtime(rt, tc), run_dir, runtime=rt).fit(x, y, resume=resume)
    return model


def _one_class(cfg: HoldoutConfig, rt, data, trial: dict, c: int, specs, out: Path, resume,
               warning: str | None):  # fmt: skip
    """For each variant, the classifier of every class but ``c`` (trained on the trial's
    subset), its accuracy on the seen test classes (the gate, whose line is printed until one
    has been: ``warning``), and the average precision of each method with class ``c`` as the
    anomaly: ``({variant: (accuracy, {label: AP})}, warning)``."""
    y_test = data.y_test.numpy()
    tr_idx, remap = holdout_class_split(trial["y"], c)
    x, y = trial["x"][torch.as_tensor(tr_idx)], torch.as_tensor(remap[trial["y"][tr_idx]]).long()
    anomaly = y_test == c
    seen = ~anomaly
    out_v = {}
    for v in cfg.variants:
        log(f"trial {trial['t'] + 1}/{cfg.trials}, held-out class {data.classes[c]}, {v}")
        run_dir = out / "runs" / f"trial{trial['t']}_class{c}_{v}"
        model = _train(cfg, rt, data, x, y, trial["seed"] + c, v, run_dir, resume)
        pred = predict_logits(model, data.x_test[torch.as_tensor(seen)]).argmax(1)
        acc = float((pred.numpy() == remap[y_test[seen]]).mean())
        gate = GateResult(acc, int(seen.sum()), len(data.classes) - 1, cfg.accuracy_gate,
                          f"ID test ({run_dir.name})")  # fmt: skip
        warning = warning or enforce(gate, cfg.strict)  # before any OOD number
        scores = holdout_scores(model, data.x_test, specs, std=data.std)
        out_v[v] = (acc, {s["label"]: average_precision(-scores[s["label"]], anomaly)
                          for s in specs})  # fmt: skip
    return out_v, warning


def _results(cfg: HoldoutConfig, data, classes, seeds, records, ap, acc, command):
    labels, y_test = list(ap[cfg.variants[0]]), data.y_test.numpy()
    probe = create_model(cfg.model.name, num_classes=len(data.classes) - 1,
                         in_channels=data.channels)  # fmt: skip
    return HoldoutResults(
        title=cfg.title,
        convention={"positive": "held-out class (anomaly)", "metric": "average precision",
                    "anomaly_score": "-ID-ness", "random_detector": "scores the skew"},
        classes=[data.classes[c] for c in classes],
        skew=[float((y_test == c).mean()) for c in classes],
        trials=cfg.trials, seeds=seeds, methods=list(cfg.methods), labels=labels,
        variants={v: {"ap": {m: ap[v][m].tolist() for m in labels},
                      "accuracy": acc[v].tolist()} for v in cfg.variants},
        subsets=records,
        training=training_record(cfg.train.train_config(cfg.seed), probe, data.describe()),
        run=run_metadata(seed=cfg.seed, config=cfg.to_dict(), data=data.describe(),
                         command=command),
    )  # fmt: skip


def run_holdout(
    cfg: HoldoutConfig, out: str | Path, data_root=None, resume: bool = True, command=None
) -> HoldoutResults:
    check_config(cfg, HoldoutConfig, "run_holdout")
    out, t_start = Path(out), time.perf_counter()
    rt = bench_runtime(cfg)
    seed, d = cfg.seed, cfg.data
    # the pool: every training image but a seeded 0.01% validation split (unused), normalised
    # with the pool's statistics; each trial draws its own subset of it
    data = prepare_id(d.dataset, data_root, seed, val_fraction=0.0001, test_limit=d.test_limit)
    specs = [{**s.as_method(), "label": method_label(s.as_method())} for s in cfg.methods]
    classes, trials = _classes(cfg, data), cfg.trials
    seeds = [trial_seed(seed, t) for t in range(trials)]
    subsets = [draw_subset(len(data.x_train), d.train_limit, s) for s in seeds]
    records = subset_records(subsets, seeds, len(data.x_train))
    for rec in records:  # before any training: a folder of other subsets is refused
        claim_subset(out, rec, resume)
    ap = {v: {s["label"]: np.full((trials, len(classes)), np.nan) for s in specs}
          for v in cfg.variants}  # fmt: skip
    acc = {v: np.full((trials, len(classes)), np.nan) for v in cfg.variants}
    warning = None
    for t in range(trials):
        pick = torch.as_tensor(subsets[t])
        trial = {"t": t, "seed": seeds[t], "x": data.x_train[pick],
                 "y": data.y_train[pick].numpy()}  # fmt: skip
        for ci, c in enumerate(classes):
            per_v, warning = _one_class(cfg, rt, data, trial, c, specs, out, resume, warning)
            for v, (a, aps) in per_v.items():
                acc[v][t, ci] = a
                for m, value in aps.items():
                    ap[v][m][t, ci] = value
    res = _results(cfg, data, classes, seeds, records, ap, acc, command)
    res.warning = warning
    res.claims = holdout_claims(res)
    res.departures = holdout_departures(res)
    res.timings = {"total_s": time.perf_counter() - t_start}
    return res
