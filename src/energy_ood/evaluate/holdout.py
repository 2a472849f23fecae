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

from .._progress import log
from .._runinfo import run_metadata
from .._validate import InputError
from ..data.splits import holdout_class_split
from ..metrics import average_precision
from ..models import create_model
from ..score import create_scorer
from ..train import Trainer
from ..train.loop import predict_logits
from ..train.runs import prepare_id
from .gate import GateResult, enforce
from .holdout_config import HoldoutConfig
from .holdout_results import HoldoutResults, holdout_claims, holdout_departures
from .ood_bench import _on, bench_runtime
from .scoring import method_label


def holdout_scores(
    model, x_test: torch.Tensor, methods: list[dict], *, std=None, fit_x=None, fit_y=None
) -> dict[str, np.ndarray]:
    """ID-ness scores of the full test set for each method spec. Each scorer is fitted with
    what it declares (``fit_scorer``): ``std`` (the input normalisation, for ODIN's pixel-unit
    eps) and, for scorers that learn from ID data, ``fit_x`` / ``fit_y`` (training images and
    labels); a scorer whose needs are not given says so (InputError)."""
    from ..score import FitSource, ModelAdapter, fit_scorer

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


def run_holdout(
    cfg: HoldoutConfig, out: str | Path, data_root=None, resume: bool = True, command=None
) -> HoldoutResults:
    if not isinstance(cfg, HoldoutConfig):
        raise InputError("run_holdout needs a HoldoutConfig (evaluate.config.load_config)")
    out, t_start = Path(out), time.perf_counter()
    rt = bench_runtime(cfg)
    seed, d = cfg.seed, cfg.data
    data = prepare_id(d.dataset, data_root, seed, val_fraction=0.0001, train_limit=d.train_limit,
                      test_limit=d.test_limit)  # fmt: skip
    specs = [{**s.as_method(), "label": method_label(s.as_method())} for s in cfg.methods]
    labels = [s["label"] for s in specs]
    classes = cfg.classes if cfg.classes is not None else list(range(len(data.classes)))
    for c in classes:
        if c >= len(data.classes):
            raise InputError(
                f"classes: {c} is not a class of {data.name} (0..{len(data.classes) - 1})"
            )
    trials, variants = cfg.trials, cfg.variants
    ap = {v: {m: np.full((trials, len(classes)), np.nan) for m in labels} for v in variants}
    acc = {v: np.full((trials, len(classes)), np.nan) for v in variants}
    y_test, warning = data.y_test.numpy(), None
    for t in range(trials):
        for ci, c in enumerate(classes):
            tr_idx, remap = holdout_class_split(data.y_train.numpy(), c)
            tr_idx = torch.as_tensor(tr_idx)
            x = data.x_train[tr_idx]
            y = torch.as_tensor(remap[data.y_train.numpy()[tr_idx.numpy()]]).long()
            anomaly = y_test == c
            seen = ~anomaly
            for v in variants:
                run_seed = seed + 1000 * t + c
                torch.manual_seed(run_seed)
                model = create_model(
                    cfg.model.name,
                    num_classes=len(data.classes) - 1,
                    in_channels=data.channels,
                    rotation_head=v == "rotation",
                )
                extra = {"method": "rotation", "lam": cfg.train.rotation_lambda} if (
                    v == "rotation") else {"center_mask": v == "center-mask"}  # fmt: skip
                tc = cfg.train.train_config(run_seed, **extra)
                run_dir = out / "runs" / f"trial{t}_class{c}_{v}"
                log(f"trial {t + 1}/{trials}, held-out class {data.classes[c]}, {v}")
                trainer = Trainer(model, _on(rt, tc), run_dir, runtime=rt)
                trainer.fit(x, y, resume=resume)
                pred = predict_logits(model, data.x_test[torch.as_tensor(seen)]).argmax(1)
                acc[v][t, ci] = float((pred.numpy() == remap[y_test[seen]]).mean())
                gate = GateResult(acc[v][t, ci], int(seen.sum()), len(data.classes) - 1,
                                  cfg.accuracy_gate, f"ID test ({run_dir.name})")  # fmt: skip
                warning = warning or enforce(gate, cfg.strict)  # before any OOD number
                scores = holdout_scores(model, data.x_test, specs, std=data.std)
                for m in labels:
                    ap[v][m][t, ci] = average_precision(-scores[m], anomaly)
    res = HoldoutResults(
        title=cfg.title,
        convention={"positive": "held-out class (anomaly)", "metric": "average precision",
                    "anomaly_score": "-ID-ness", "random_detector": "scores the skew"},
        classes=[data.classes[c] for c in classes],
        skew=[float((y_test == c).mean()) for c in classes],
        trials=trials, seeds=[seed + 1000 * t for t in range(trials)],
        methods=list(cfg.methods), labels=labels,
        variants={v: {"ap": {m: ap[v][m].tolist() for m in labels},
                      "accuracy": acc[v].tolist()} for v in variants},
        run=run_metadata(seed=seed, config=cfg.to_dict(), data=data.describe(), command=command),
    )  # fmt: skip
    res.warning = warning
    res.claims = holdout_claims(res)
    res.departures = holdout_departures(cfg, res, len(data.x_train))
    res.timings = {"total_s": time.perf_counter() - t_start}
    return res
