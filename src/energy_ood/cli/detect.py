"""``energy-ood detect``: calibrate a threshold on ID validation data, then flag new inputs.

  energy-ood detect fit --val val_logits.npy --score energy --out det
      writes det.json (scorer, parameters, threshold) and det.pt (fitted tensors), as a set
  energy-ood detect fit --val val_feats.npy --score mahalanobis --fit train_feats.npy \\
      --labels train_labels.npy --out det
  energy-ood detect fit --val val_feats.npy --score ash_s+msp --head head.npz --out det
  energy-ood detect fit --run-dir RUN --val val_images.npy --score knn --fit train_images.npy \\
      --out det            (a run folder's model; images (N, C, H, W) in [0, 1])
  energy-ood detect predict --detector det.json --input new.npy [--csv f.csv] [--json f.json]
      one row per input: index, score (ID-ness), decision (score - threshold),
      label (+1 ID / -1 OOD, scikit-learn's convention), is_ood (1 when score < threshold)

--score takes every scorer of 'energy_ood.score.available_scorers()' and SHAPING+SCORE names
(react+msp, ash_s+gen, ...). Each scorer says what it needs; the flags that give it: --fit (ID
training data of its kind), --labels (their classes), --head (a .npz/.pt holding the final
layer's 'weight' and 'bias'; taken from the model with --run), --class-weights (weighted_ebo),
--run-dir (scorers of model inputs: odin, mahalanobis_pre, rankfeat). Parameters: --T, --k, or
--param NAME=VALUE (repeatable; VALUE read as JSON).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .._files import check_bytes, open_regular
from .._io import load_array
from .._npz import load_npz
from .._outputs import atomic_write_bytes
from .._torchload import load_failure
from .._validate import InputError
from ..data import bad_images
from ..score import Detector, create_scorer
from ..score.calibrated import check_labels
from ..score.detector import CONVENTION
from ._images import images_for, inputs_record, model_from_inputs
from ._paths import check_out_file
from ._runtime import add_runtime_args, runtime_from_args
from ._source import add_run_dir, add_source_args, has_source, load_source

FLAGS = {"X": "--fit", "y": "--labels", "head": "--head", "class_weights": "--class-weights"}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "detect",
        help="calibrate a threshold at 95%% TPR and flag OOD inputs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dsub = p.add_subparsers(dest="detect_command", required=True, metavar="SUBCOMMAND")
    f = dsub.add_parser("fit", help="fit a detector on ID validation logits or features")
    f.add_argument(
        "--val",
        help="ID validation data of the scorer's kind (with --run-dir/--model: images; "
        "default the data set's validation split)",
    )
    f.add_argument("--score", default="energy", help="a scorer name (default: energy)")
    f.add_argument("--T", type=float, help="temperature (energy, msp, odin, ...)")
    f.add_argument("--k", type=int, help="neighbours (knn, nnguide)")
    f.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a scorer parameter, VALUE read as JSON (repeatable)",
    )
    f.add_argument("--fit", dest="fit_data", help="ID training data the scorer learns from")
    f.add_argument("--labels", help="class labels of --fit")
    f.add_argument("--head", help=".npz/.pt with the final layer's 'weight' and 'bias'")
    f.add_argument("--class-weights", help="class weights of weighted_ebo (a vector)")
    f.add_argument("--std", help="per-channel input std, comma-separated (odin eps in pixels)")
    f.add_argument("--tpr", type=float, default=0.95, help="share of ID inputs accepted")
    f.add_argument(
        "--fit-samples", type=int, default=10000, help="ID training images scorers learn from"
    )
    add_source_args(f, gate=True)
    add_runtime_args(f, train=False)
    f.add_argument("--out", required=True, help="detector path (writes .json and .pt)")
    f.add_argument("--overwrite", action="store_true", help="replace a detector already at --out")
    f.set_defaults(func=run_fit)
    _add_export(dsub)
    q = dsub.add_parser("predict", help="flag inputs with a saved detector")
    q.add_argument("--detector", required=True, help="the .json written by 'detect fit'")
    q.add_argument(
        "--input",
        required=True,
        help="data to flag: arrays of the scorer's kind, or, for a detector that holds a model, "
        "images (a folder, .tar shard, file list, or an .npy of (N, C, H, W) in [0, 1])",
    )
    add_run_dir(q, "the run folder of the model (default: the one the detector records)")
    q.add_argument("--csv", help="write index,score,decision,label,is_ood rows (default: stdout)")
    q.add_argument("--json", help="write scores, flags, threshold and convention as JSON")
    q.add_argument("--overwrite", action="store_true", help="replace existing --csv / --json files")
    add_runtime_args(q, train=False)
    q.set_defaults(func=run_predict)


def _add_export(dsub) -> None:
    from ..score.export import FORMATS

    e = dsub.add_parser(
        "export",
        help="write a detector that holds a model as one artifact (TorchScript, torch.export, "
        "ONNX): raw images in, logits, score and OOD flag out",
    )
    e.add_argument("--detector", required=True, help="the .json written by 'detect fit --model'")
    e.add_argument("--format", required=True, choices=FORMATS)
    e.add_argument("--out", help="the artifact (default: the detector's path + .ts/.pt2/.onnx)")
    e.add_argument(
        "--input-dtype",
        choices=("uint8", "float32"),
        default="uint8",
        help="what the artifact takes: uint8 images 0..255 (default) or float32 in [0, 1], "
        "(N, C, H, W) at the model's size",
    )
    e.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    e.set_defaults(func=run_export)


def run_export(args) -> int:
    from .._device import cpu_runtime
    from ..score._detector_io import base_path
    from ..score.export import SUFFIX, export_detector

    det = Detector.load(args.detector)
    if det.inputs is None:
        raise InputError(f"{args.detector}: fitted on arrays, it holds no model; export a "
                         "detector fitted with --run-dir or --model")  # fmt: skip
    out = args.out or str(base_path(args.detector)) + SUFFIX[args.format]
    check_out_file(args, out, "--out")
    model, transform, mean, std = model_from_inputs(det.inputs, cpu_runtime())
    det = Detector.load(args.detector, model=model)
    pp = replace(transform.recipe(), mean=tuple(mean), std=tuple(std))
    export_detector(det, args.format, out, preprocess=pp, input_dtype=args.input_dtype)
    shape = (pp.channels, *pp.size)
    print(
        f"{out}: {args.format} artifact of {det.scorer.name}: images ({args.input_dtype}, N x "
        f"{shape[0]} x {shape[1]} x {shape[2]}) -> logits, score, is_ood (score < "
        f"{det.threshold:.6g}); checked against the detector"
    )
    return 0


def load_kind(path: str, kind: str) -> np.ndarray:
    """An array of ``kind`` from a file: an .npz holding a key of that name gives it (so one
    bundle can hold logits and features), otherwise the file's array."""
    return load_array(path, kind=kind)


def _head(path: str) -> tuple:
    p = Path(path)
    open_regular(p, "head file").close()  # a FIFO or device is refused, never opened blocking
    if p.suffix.lower() == ".npz":  # members checked against their headers and the ceiling
        d = load_npz(p, pick=lambda keys: [k for k in ("weight", "bias") if k in keys])
    else:
        check_bytes(p.stat().st_size, str(p))
        try:
            d = torch.load(p, weights_only=True, map_location="cpu")
        except Exception as e:  # noqa: BLE001 - any failure of the restricted unpickler
            raise load_failure(p, e, "--head") from e
    if not isinstance(d, dict) or "weight" not in d:
        raise InputError(f"{p}: expected a dict/npz with 'weight' (and 'bias')")
    w, b = d["weight"], d.get("bias")
    if not isinstance(w, (np.ndarray, torch.Tensor)) or (
        b is not None and not isinstance(b, (np.ndarray, torch.Tensor))
    ):
        raise InputError(f"{p}: 'weight' and 'bias' must be arrays")
    return w, b


def _params(args) -> dict:
    params = {k: v for k, v in (("T", args.T), ("k", args.k)) if v is not None}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputError(f"--param {item!r}: expected NAME=VALUE")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


def _check_new_detector(args) -> None:
    """A detector already at ``--out`` is replaced only when asked (``--overwrite``), and
    never when it is one of the inputs."""
    from ..score.detector import detector_files

    for path in detector_files(args.out):
        check_out_file(args, path, "--out")


def run_fit(args) -> int:
    _check_new_detector(args)
    scorer = create_scorer(args.score, **_params(args))
    if has_source(args):
        return _fit_with_model(args, scorer)
    if args.strict:
        raise InputError("--strict goes with --run-dir / --model (the gate needs labelled ID data)")
    if args.val is None:
        raise InputError("give --val (ID validation data), or --run-dir / --model with images")
    runtime_from_args(args)  # --device / --threads are checked (and set) for arrays too
    model = normalise = std = None
    if args.std:
        try:
            std = [float(s) for s in args.std.split(",")]
        except ValueError as e:
            raise InputError(f"--std {args.std!r}: expected comma-separated numbers") from e
    given = {"X": args.fit_data, "y": args.labels, "head": args.head,
             "class_weights": args.class_weights, "model": None}  # fmt: skip
    for need in sorted(scorer.fit_needs):
        if not given.get(need):
            flag = FLAGS.get(need, "--run-dir")
            raise InputError(f"--score {args.score} needs {flag} ({_why(need, scorer)})")

    def read(path, kind):
        return normalise(path) if normalise is not None else load_kind(path, kind)

    fit_kind = scorer.fit_kind or scorer.input_kind
    needs = {}
    if args.head:
        needs["weight"], needs["bias"] = _head(args.head)
    if args.class_weights:
        needs["class_weights"] = load_array(args.class_weights)
    if std is not None and "std" in scorer.fit_accepts:
        needs["std"] = std
    X = read(args.fit_data, fit_kind) if args.fit_data else None
    y = None
    if args.labels:
        y = load_array(args.labels)
        if X is None or y.ndim != 1 or len(y) != len(X):
            raise InputError(f"{args.labels}: need one label per row of --fit, got {y.shape}")
        check_labels(y, len(X), None, f"--labels {args.labels}", "cpu")
    det = Detector(scorer, tpr=args.tpr, model=model)
    val = read(args.val, scorer.input_kind)
    if X is None and not scorer.fit_needs:
        det.fit(val, **needs)
    else:
        det.fit(X if X is not None else val, y, X_val=val, **needs)
    path = det.save(args.out)
    print(
        f"{path}: {scorer.name} detector, threshold {det.threshold:.6g} accepts "
        f"{100 * args.tpr:g}% of the ID validation inputs; flags score < threshold as OOD"
    )
    return 0


def _fit_with_model(args, scorer) -> int:
    """detect fit --run-dir/--model: the scorer learns from the data set's training images (a
    seeded subset of --fit-samples), the threshold is set on its validation split (or --val)."""
    import torch

    for flag in ("fit_data", "labels", "head"):
        if getattr(args, flag):
            raise InputError(f"--{flag.replace('_', '-')} is for arrays; with a model the data "
                             "set's images and the model's final layer are used")  # fmt: skip
    rt = runtime_from_args(args)
    src = load_source(args, rt)
    d = src.data
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(d.x_train), generator=g)[: max(1, args.fit_samples)]
    X, y = d.x_train[idx], d.y_train[idx]
    record = inputs_record(args, d)
    record.update(_gate(src, d, rt, args))
    val = d.x_val if args.val is None else images_for(args.val, *_transform_of(record), rt.device)
    needs = {}
    if args.class_weights:
        needs["class_weights"] = load_array(args.class_weights)
    elif src.class_weights is not None and "class_weights" in scorer.fit_needs:
        needs["class_weights"] = src.class_weights  # the run's own (VOS training)
    if "std" in scorer.fit_accepts:
        needs["std"] = list(d.std)
    for need in sorted(scorer.fit_needs - {"X", "y", "head", "model", "std"}):
        if need not in needs:
            raise InputError(f"--score {args.score} needs {FLAGS.get(need, need)}")
    det = Detector(scorer, tpr=args.tpr, model=src.model, head=src.head)
    det.fit(X, y, X_val=val, **needs)
    det.inputs = record
    path = det.save(args.out)
    print(
        f"{path}: {scorer.name} detector on {args.run or args.model}, threshold "
        f"{det.threshold:.6g} accepts {100 * args.tpr:g}% of the ID validation images; "
        "flags score < threshold as OOD"
    )
    return 0


def _gate(src, d, rt, args) -> dict:
    """The ID-accuracy gate on the validation split (before anything is fitted): the warning
    is printed (or, with --strict, the command stops) and recorded in the detector."""
    from ..evaluate.extract import extract
    from ..evaluate.gate import check_ratio, enforce, id_accuracy

    ratio = check_ratio(args.accuracy_gate)
    if ratio <= 0:
        return {}
    lo, _ = extract(src.model, d.x_val, 512, rt, src.head, "ID accuracy")
    g = id_accuracy(lo, d.y_val, ratio, what="ID validation", context=d.extra.get("normalize", ""))
    if g is None or g.n_classes != len(d.classes):
        return {}
    return {"id_accuracy": g.accuracy, "warning": enforce(g, args.strict)}


def _transform_of(record: dict):
    from ._images import transform_from_record

    return transform_from_record(record["transform"]), record["mean"], record["std"]


def _why(need: str, scorer) -> str:
    kind = scorer.fit_kind or scorer.input_kind
    return {
        "X": f"it learns from ID {'validation' if scorer.fit_split == 'val' else 'training'} "
        f"{kind}",
        "y": "it needs the class labels of --fit",
        "head": "the final layer's weight and bias",
        "class_weights": "the class weights learned in VOS training",
        "model": "it runs the model on images",
    }.get(need, need)


def _recorded_inputs(det) -> list[tuple[str, str]]:
    """The run folder / weights a model-holding detector will read."""
    rec = det.inputs or {}
    return [(f"(detector's {k})", rec[k]) for k in ("run_dir", "checkpoint", "model")
            if isinstance(rec.get(k), str)]  # fmt: skip


def run_predict(args) -> int:
    det = Detector.load(args.detector)  # its JSON and state only: the model comes later
    for flag in ("csv", "json"):  # before any work: an existing file is kept unless asked
        if getattr(args, flag):
            check_out_file(args, getattr(args, flag), f"--{flag}", *_recorded_inputs(det))
    rt = runtime_from_args(args)
    inputs = det.inputs
    if args.run:  # the detector's model from another place than the one recorded
        inputs = {**(inputs or {}), "run_dir": args.run}
        inputs.pop("model", None)
    if inputs is not None:
        model, transform, mean, std = model_from_inputs(inputs, rt)
        det = Detector.load(args.detector, model=model)
        x = images_for(args.input, transform, mean, std, rt.device)
    else:
        if det.scorer.input_kind == "inputs":
            raise InputError(f"{args.detector}: {det.scorer.name} runs a model: give --run-dir")
        x = load_kind(args.input, det.scorer.input_kind)
    scores = det.score_samples(x)
    # images left out (--bad-images skip): rows keep their position in the input's order
    index = getattr(getattr(x, "ds", None), "positions", None)
    decision = scores - det.threshold
    labels = np.where(decision >= 0, 1, -1)
    if args.json:
        record = {
            "detector": str(args.detector),
            "scorer": det.scorer.name,
            "params": det.scorer.get_params(),
            "threshold": det.threshold,
            "tpr": det.tpr,
            "convention": CONVENTION,
            "n": int(len(scores)),
            "n_ood": int((labels < 0).sum()),
            "scores": scores.tolist(),
            "labels": labels.tolist(),
            **({"index": index.tolist()} if index is not None else {}),
            **({"skipped_images": bad_images.skipped()} if bad_images.skipped() else {}),
        }
        atomic_write_bytes(args.json, json.dumps(record).encode())
    _write_csv(args.csv, scores, decision, labels, index)  # `| head`: cli.main exits 141, quietly
    print(
        f"{int((labels < 0).sum())} of {len(labels)} inputs flagged OOD (label -1): score < "
        f"threshold {det.threshold:.6g} ({det.scorer.name}; score = ID-ness)",
        file=sys.stderr,
    )
    return 0


def _write_csv(path, scores, decision, labels, index=None) -> None:
    """The rows to ``path`` as a whole (atomically), or to stdout."""
    out = io.StringIO(newline="") if path else sys.stdout
    w = csv.writer(out)
    w.writerow(["index", "score", "decision", "label", "is_ood"])
    index = range(len(scores)) if index is None else index
    for i, s, d, lab in zip(index, scores, decision, labels):
        w.writerow([i, f"{s:.9g}", f"{d:.9g}", int(lab), int(lab < 0)])
    if path:
        atomic_write_bytes(path, out.getvalue().encode())
    else:
        out.flush()
