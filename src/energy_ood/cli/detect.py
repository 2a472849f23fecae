"""``energy-ood detect``: calibrate a threshold on ID validation data, then flag new inputs.

  energy-ood detect fit --val val_logits.npy --score energy --out det
      writes det.json (scorer, parameters, threshold) and det.pt (fitted tensors, if any)
  energy-ood detect fit --val val_feats.npy --score mahalanobis --fit train_feats.npy \\
      --labels train_labels.npy --out det
  energy-ood detect predict --detector det.json --input new_logits.npy [--csv flags.csv]
      one row per input: index, score (ID-ness), is_ood (score < threshold)

Logit scorers (energy, msp, maxlogit) read logits; knn / mahalanobis / react / vim read
penultimate features, fitted on ID training features (--fit; mahalanobis also --labels;
react and vim also --head, a .npz/.pt holding the final layer's 'weight' and 'bias').
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from .._io import load_array
from .._validate import InputError
from ..score import Detector, create_scorer

SCORERS = ("energy", "msp", "maxlogit", "knn", "mahalanobis", "react", "vim")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "detect",
        help="calibrate a threshold at 95%% TPR and flag OOD inputs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dsub = p.add_subparsers(dest="detect_command", required=True, metavar="SUBCOMMAND")
    f = dsub.add_parser("fit", help="fit a detector on ID validation logits or features")
    f.add_argument("--val", required=True, help="ID validation logits/features (n x K or n x D)")
    f.add_argument("--score", default="energy", choices=SCORERS)
    f.add_argument("--T", type=float, help="temperature (energy, msp)")
    f.add_argument("--k", type=int, help="neighbours (knn)")
    f.add_argument("--fit", dest="fit_data", help="ID training features (knn, mahalanobis, ...)")
    f.add_argument("--labels", help="labels of --fit (mahalanobis)")
    f.add_argument("--head", help=".npz/.pt with the final layer's 'weight' and 'bias'")
    f.add_argument("--tpr", type=float, default=0.95, help="share of ID inputs accepted")
    f.add_argument("--out", required=True, help="detector path (writes .json and .pt)")
    f.set_defaults(func=run_fit)
    q = dsub.add_parser("predict", help="flag inputs with a saved detector")
    q.add_argument("--detector", required=True, help="the .json written by 'detect fit'")
    q.add_argument("--input", required=True, help="logits/features to flag")
    q.add_argument("--csv", help="write index,score,is_ood rows here (default: stdout)")
    q.set_defaults(func=run_predict)


def _head(path: str) -> dict:
    p = Path(path)
    if p.suffix.lower() == ".npz":
        with np.load(p, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    else:
        import torch

        try:
            d = torch.load(p, weights_only=True, map_location="cpu")
        except FileNotFoundError:
            raise
        except Exception as e:
            raise InputError(f"{p}: refused to load ({str(e).splitlines()[0]})") from e
    if not isinstance(d, dict) or "weight" not in d:
        raise InputError(f"{p}: expected a dict/npz with 'weight' (and 'bias')")
    return {"weight": d["weight"], "bias": d.get("bias")}


def run_fit(args) -> int:
    params = {k: v for k, v in (("T", args.T), ("k", args.k)) if v is not None}
    scorer = create_scorer(args.score, **params)
    if scorer.needs_fit:
        if not args.fit_data:
            raise InputError(f"--score {args.score} learns from ID training features: give --fit")
        fit_x = load_array(args.fit_data)
        if args.score == "mahalanobis":
            if not args.labels:
                raise InputError("--score mahalanobis needs --labels for the --fit features")
            labels = load_array(args.labels)
            if labels.ndim != 1 or len(labels) != len(fit_x):
                raise InputError(f"{args.labels}: need {len(fit_x)} labels, got {labels.shape}")
            scorer.fit(fit_x, labels)
        elif args.score in ("react", "vim"):
            if not args.head:
                raise InputError(f"--score {args.score} needs --head (final layer weight, bias)")
            scorer.fit(fit_x, **_head(args.head))
        else:
            scorer.fit(fit_x)
    det = Detector(scorer, tpr=args.tpr).fit(load_array(args.val))
    path = det.save(args.out)
    print(
        f"{path}: {args.score} detector, threshold {det.threshold:.6g} accepts "
        f"{100 * args.tpr:g}% of the ID validation inputs; flags score < threshold as OOD"
    )
    return 0


def run_predict(args) -> int:
    det = Detector.load(args.detector)
    flags, scores = det.predict(load_array(args.input))
    out = open(args.csv, "w", newline="") if args.csv else sys.stdout
    try:
        w = csv.writer(out)
        w.writerow(["index", "score", "is_ood"])
        for i, (s, f) in enumerate(zip(scores, flags)):
            w.writerow([i, f"{s:.9g}", int(f)])
    finally:
        if args.csv:
            out.close()
    print(
        f"{int(flags.sum())} of {len(flags)} inputs flagged OOD "
        f"(threshold {det.threshold:.6g}, {det.scorer.name})",
        file=sys.stderr,
    )
    return 0
