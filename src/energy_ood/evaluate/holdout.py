"""Hold-out-class (semantic anomaly) protocol, after Ahmed & Courville (AAAI 2020).

For each class c of a K-class data set and each trial (seed), train a classifier on the other
K-1 classes; at test time the held-out class is the anomaly among the full test set. Average
precision with the anomaly as the positive class and anomaly score = -ID-ness; the skew
(fraction of anomalies) is what a random detector scores. Accuracy is measured on the test
images of the K-1 seen classes. With ``rotation = true`` a second classifier per (class, trial)
is trained with the rotation-prediction head (class head on unrotated images only).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from .._progress import log
from .._runinfo import run_metadata
from ..data.splits import holdout_class_split
from ..metrics import average_precision
from ..models import create_model
from ..score import create_scorer
from ..train import TrainConfig, Trainer
from ..train.loop import predict_logits
from ..train.runs import prepare_id


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


def run_holdout(cfg: dict, out: str | Path, data_root=None, resume: bool = True) -> dict:
    out = Path(out)
    t_start = time.perf_counter()
    seed = cfg.get("seed", 0)
    dcfg, mcfg, tcfg = cfg["data"], cfg.get("model", {"name": "cnn"}), cfg.get("train", {})
    data = prepare_id(
        dcfg["dataset"],
        data_root,
        seed,
        val_fraction=0.0001,
        train_limit=dcfg.get("train_limit"),
        test_limit=dcfg.get("test_limit"),
    )
    methods = cfg.get("methods", [{"name": "msp"}, {"name": "odin"}, {"name": "energy"}])
    labels = [m.get("label", m["name"]) for m in methods]
    classes = cfg.get("classes") or list(range(len(data.classes)))
    trials = int(cfg.get("trials", 3))
    variants = ["plain", "rotation"] if cfg.get("rotation", True) else ["plain"]
    ap = {v: {m: np.full((trials, len(classes)), np.nan) for m in labels} for v in variants}
    acc = {v: np.full((trials, len(classes)), np.nan) for v in variants}
    y_test = data.y_test.numpy()
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
                    mcfg["name"],
                    num_classes=len(data.classes) - 1,
                    in_channels=data.channels,
                    rotation_head=v == "rotation",
                )
                tc = TrainConfig(
                    method="rotation" if v == "rotation" else "ce",
                    seed=run_seed,
                    lam=tcfg.get("rotation_lambda", 0.5) if v == "rotation" else None,
                    **{k: tcfg[k] for k in ("epochs", "lr", "batch_size", "augment") if k in tcfg},
                )
                run_dir = out / "runs" / f"trial{t}_class{c}_{v}"
                log(f"trial {t + 1}/{trials}, held-out class {data.classes[c]}, {v}")
                Trainer(model, tc, run_dir).fit(x, y, resume=resume)
                scores = holdout_scores(model, data.x_test, methods, std=data.std)
                for m in labels:
                    ap[v][m][t, ci] = average_precision(-scores[m], anomaly)
                pred = predict_logits(model, data.x_test[torch.as_tensor(seen)]).argmax(1)
                acc[v][t, ci] = float((pred.numpy() == remap[y_test[seen]]).mean())
    skew = [float((y_test == c).mean()) for c in classes]
    res = {
        "title": cfg.get("title", f"hold-out-class benchmark on {data.name}"),
        "convention": {
            "positive": "held-out class (anomaly)",
            "metric": "average precision",
            "anomaly_score": "-ID-ness",
            "random_detector": "scores the skew",
        },
        "run": run_metadata(seed=seed, config=cfg, data=data.describe()),
        "classes": [data.classes[c] for c in classes],
        "skew": skew,
        "trials": trials,
        "variants": {},
    }
    for v in variants:
        per_trial_mean = {m: np.nanmean(ap[v][m], axis=1) for m in labels}
        res["variants"][v] = {
            "ap": {
                m: {
                    "per_class_mean": np.nanmean(ap[v][m], 0).tolist(),
                    "per_class_std": np.nanstd(ap[v][m], 0).tolist(),
                    "mean": float(per_trial_mean[m].mean()),
                    "std": float(per_trial_mean[m].std()),
                    "all": ap[v][m].tolist(),
                }
                for m in labels
            },
            "accuracy": {
                "per_class_mean": np.nanmean(acc[v], 0).tolist(),
                "mean": float(np.nanmean(acc[v].mean(1))),
                "std": float(np.nanstd(acc[v].mean(1))),
                "all": acc[v].tolist(),
            },
        }
    res["timings"] = {"total_s": time.perf_counter() - t_start}
    return res
