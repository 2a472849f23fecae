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
import json
import sys

from .._validate import InputError
from ..detect.fit import ArrayFiles, fit_on_arrays, fit_on_source
from ..detect.predict import predict
from ..io.atomic_write import atomic_write_bytes
from ..score import Detector, create_scorer
from ..score.model_record import recorded_paths
from ._paths import check_out_file
from ._runtime import add_runtime_args, runtime_from_args
from ._source import add_run_dir, add_source_args, has_source, load_source


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
    from ..score.detector import detector_base
    from ..score.export import SUFFIX, export_detector
    from ..score.model_record import recipe

    det = Detector.load(args.detector, restore=False)
    if det.inputs is None:
        raise InputError(f"{args.detector}: fitted on arrays, it holds no model; export a "
                         "detector fitted with --run-dir or --model")  # fmt: skip
    out = args.out or str(detector_base(args.detector)) + SUFFIX[args.format]
    check_out_file(args, out, "--out")
    det = Detector.load(args.detector)  # its model restored, on the CPU
    pp = recipe(det.inputs)
    export_detector(det, args.format, out, preprocess=pp, input_dtype=args.input_dtype)
    shape = (pp.channels, *pp.size)
    print(
        f"{out}: {args.format} artifact of {det.scorer.name}: images ({args.input_dtype}, N x "
        f"{shape[0]} x {shape[1]} x {shape[2]}) -> logits, score, is_ood (score < "
        f"{det.threshold:.6g}); checked against the detector"
    )
    return 0


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


def _std(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(s) for s in text.split(",")]
    except ValueError as e:
        raise InputError(f"--std {text!r}: expected comma-separated numbers") from e


def _fit_model(args, scorer):
    """detect fit --run-dir / --model: the data set's images and the model's final layer."""
    for flag in ("fit_data", "labels", "head"):
        if getattr(args, flag):
            raise InputError(f"--{flag.replace('_', '-')} is for arrays; with a model the data "
                             "set's images and the model's final layer are used")  # fmt: skip
    rt = runtime_from_args(args)
    det = fit_on_source(scorer, load_source(args, rt), rt, val=args.val,
                        fit_samples=args.fit_samples, class_weights=args.class_weights,
                        tpr=args.tpr, gate_ratio=args.accuracy_gate, strict=args.strict,
                        label=args.score)  # fmt: skip
    return det, f" on {args.run or args.model}, threshold {det.threshold:.6g} accepts " + (
        f"{100 * args.tpr:g}% of the ID validation images"
    )


def _fit_arrays(args, scorer):
    """detect fit --val ...: arrays of the scorer's kind."""
    if args.strict:
        raise InputError("--strict goes with --run-dir / --model (the gate needs labelled ID data)")
    if args.val is None:
        raise InputError("give --val (ID validation data), or --run-dir / --model with images")
    runtime_from_args(args)  # --device / --threads are checked (and set) for arrays too
    files = ArrayFiles(args.val, args.fit_data, args.labels, args.head, args.class_weights,
                       _std(args.std))  # fmt: skip
    det = fit_on_arrays(scorer, files, args.tpr, label=args.score)
    return det, f", threshold {det.threshold:.6g} accepts {100 * args.tpr:g}% of the ID " + (
        "validation inputs"
    )


def run_fit(args) -> int:
    _check_new_detector(args)
    scorer = create_scorer(args.score, **_params(args))
    det, what = (_fit_model if has_source(args) else _fit_arrays)(args, scorer)
    path = det.save(args.out)
    print(f"{path}: {scorer.name} detector{what}; flags score < threshold as OOD")
    return 0


def run_predict(args) -> int:
    det = Detector.load(args.detector, restore=False)  # its JSON and state: the model later
    for flag in ("csv", "json"):  # before any work: an existing file is kept unless asked
        if getattr(args, flag):
            check_out_file(args, getattr(args, flag), f"--{flag}", *recorded_paths(det.inputs))
    rt = runtime_from_args(args)
    pred = predict(args.detector, args.input, rt, run_dir=args.run)
    if args.json:
        atomic_write_bytes(args.json, pred.json_bytes(args.detector))
    if args.csv:  # as a whole (atomically); to stdout: `| head` exits 141, quietly (cli.main)
        atomic_write_bytes(args.csv, pred.write_csv("text").encode())
    else:
        pred.write_csv()
    det, n_ood = pred.detector, int((pred.labels < 0).sum())
    print(
        f"{n_ood} of {len(pred.labels)} inputs flagged OOD (label -1): score < threshold "
        f"{det.threshold:.6g} ({det.scorer.name}; score = ID-ness)",
        file=sys.stderr,
    )
    return 0
