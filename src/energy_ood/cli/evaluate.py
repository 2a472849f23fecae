"""``energy-ood evaluate``: metrics for precomputed logits (or scores) of ID and OOD sets, or
for a trained run folder against named OOD sets (``--run-dir DIR --ood-set mnist ...``)."""

from __future__ import annotations

import argparse

import numpy as np

from .._io import load_array
from .._runinfo import atomic_write_json, run_metadata
from .._validate import InputError, as_numpy_1d
from ..evaluate.gate import check_ratio
from ..evaluate.tables import mean_row, metrics_table
from ..metrics import convention, ood_metrics
from ..score import create_scorer
from ..score.calibrated import check_labels
from ._paths import check_out_file, check_out_folder
from ._runtime import add_runtime_args, runtime_from_args
from ._source import add_source_args, has_source, load_source


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="FPR95 / AUROC / AUPR of ID vs OOD logits or scores",
        description="Score ID and OOD logits (or take scores as they are) and print "
        "FPR95, AUROC, AUPR-In and AUPR-Out (percent); ID is positive by default.",
    )
    p.add_argument(
        "--id",
        metavar="PATH",
        help="ID test logits (n x K) or scores (n) in .npy/.npz/.pt/.csv",
    )
    p.add_argument(
        "--ood",
        action="append",
        metavar="NAME=PATH",
        help="an OOD set: logits/scores in file mode; with --run, images (a folder, .tar "
        "shard, file list, IDX or .npz) taken through the run's ID transform; repeat",
    )
    p.add_argument(
        "--score",
        default="energy",
        help="comma-separated scorers (default: energy): logit scorers read --id/--ood logits, "
        "feature scorers their features (an .npz key 'features' or the file's array), fitted "
        "with --fit/--labels/--head; with --run-dir every scorer, odin included",
    )
    p.add_argument("--fit", metavar="PATH", help="ID training data for scorers that learn")
    p.add_argument("--labels", metavar="PATH", help="class labels of --fit")
    p.add_argument("--head", metavar="PATH", help=".npz/.pt with the final layer weight, bias")

    p.add_argument(
        "--ood-set",
        action="append",
        metavar="NAME",
        help="with --run: a named OOD set (mnist, cifar10-grey, scenes, textures, gaussian, "
        "uniform, ...); repeat or comma-separate",
    )
    p.add_argument(
        "--input",
        default="logits",
        choices=("logits", "scores"),
        help="'scores': the files already hold ID-ness scores (higher = ID)",
    )
    p.add_argument("--T", type=float, default=1.0, help="temperature (msp, energy)")
    p.add_argument("--tpr", type=float, default=0.95, help="TPR of the FPR operating point")
    p.add_argument(
        "--rule",
        default="first",
        choices=("first", "closest"),
        help="FPR operating point: first point with TPR >= tpr, or the closest",
    )
    p.add_argument(
        "--positive",
        default="id",
        choices=("id", "ood"),
        help="positive class for FPR95 (ood = OpenOOD / pytorch-ood convention)",
    )
    p.add_argument("--json", metavar="PATH", help="write the results as JSON (fractions)")
    p.add_argument(
        "--save-scores",
        metavar="FILE.npz",
        help="with --run: write every per-image score (keys METHOD/SET, SET = id or an OOD set)",
    )
    p.add_argument(
        "--report",
        metavar="DIR",
        help="with --run-dir/--model: write report.md, report.html, results.json and score "
        "histograms into DIR (a new or empty folder; --overwrite to replace)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --report DIR, --json or --save-scores file",
    )
    add_source_args(p, gate=True)
    add_runtime_args(p, train=False)
    p.set_defaults(func=run)


def _parse_ood(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"--ood {item!r}: expected NAME=PATH")
        name, path = item.split("=", 1)
        if not name or not path:
            raise InputError(f"--ood {item!r}: expected NAME=PATH")
        if name in out or name == "mean":
            raise InputError(f"--ood name {name!r} used twice or reserved")
        out[name] = path
    return out


def _given_scores(path: str) -> np.ndarray:
    arr = load_array(path)
    if arr.ndim != 1:
        raise InputError(f"{path}: --input scores expects a 1-D array, got shape {arr.shape}")
    try:
        return as_numpy_1d(arr, "scores")
    except InputError as e:
        raise InputError(f"{path}: {e}") from e


def _kind_array(path: str, kind: str, widths: dict) -> np.ndarray:
    """The ``kind`` array of a file (an .npz key of that name, else its array), 2-D, with the
    same column count in every file."""
    from .detect import load_kind

    arr = load_kind(path, kind)
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


def _fit_file_scorer(scorer, args, widths: dict):
    """Fit a scorer from the file-mode flags, asking it what it needs."""
    from ..score import fit_scorer
    from .detect import FLAGS, _head

    given = {"X": args.fit, "y": args.labels, "head": args.head}
    for need in sorted(scorer.fit_needs):
        if not given.get(need):
            raise InputError(
                f"--score {scorer.name} needs {FLAGS.get(need, '--run-dir (a model)')} in file mode"
            )
    kind = scorer.fit_kind or scorer.input_kind
    X = _kind_array(args.fit, kind, widths) if args.fit and "X" in scorer.fit_needs else None
    y = load_array(args.labels) if args.labels and "y" in scorer.fit_needs else None
    if y is not None:
        n = len(X) if X is not None else len(y)
        check_labels(y, n, None, f"--labels {args.labels}", "cpu")
    head = _head(args.head) if args.head and "head" in scorer.fit_needs else None
    try:
        return fit_scorer(scorer, train={kind: X}, train_labels=y, head=head)
    except InputError as e:
        raise InputError(f"--score {scorer.name}: {e}") from e


def _scorers(args) -> dict:
    from ..score import scorer_params

    out = {}
    for name in [s.strip() for s in args.score.split(",") if s.strip()]:
        params = {"T": args.T} if args.T != 1.0 and "T" in scorer_params(name) else {}
        sc = create_scorer(name, **params)
        if sc.input_kind == "inputs":
            raise InputError(f"--score {name} scores model inputs: use --run-dir DIR")
        out[sc.name if not params else f"{sc.name}(T={args.T:g})"] = sc
    if not out:
        raise InputError("--score: give at least one scorer name")
    return out


def _check_outputs(args) -> None:
    """Before any work: an existing output is kept unless asked, an input never replaced."""
    for flag in ("json", "save_scores"):
        path = getattr(args, flag, None)
        if path:
            check_out_file(args, path, f"--{flag.replace('_', '-')}")
    if args.report:
        check_out_folder(args, args.report, "--report")


def run(args: argparse.Namespace) -> int:
    _check_outputs(args)
    if has_source(args):
        if args.id:
            src = "--run-dir" if args.run else "--model"
            raise InputError(f"--id and {src} are two sources of ID data: give one of them")
        return run_folder(args)
    if args.strict:
        raise InputError("--strict goes with --run-dir / --model (the gate needs labelled ID data)")
    for flag in ("report", "save_scores", "ood_set"):
        if getattr(args, flag):
            raise InputError(f"--{flag.replace('_', '-')} needs a model: give --run-dir or --model")
    runtime_from_args(args)  # --device / --threads are checked (and set) in file mode too
    if not args.id or not args.ood:
        raise InputError("give --id PATH and --ood NAME=PATH (or --run-dir DIR --ood-set NAME)")
    oods = _parse_ood(args.ood)
    results: dict[str, dict] = {}
    if args.input == "scores":
        sid = _given_scores(args.id)
        rows = {n: ood_metrics(sid, _given_scores(p), args.tpr, rule=args.rule,
                               positive=args.positive) for n, p in oods.items()}  # fmt: skip
        rows["mean"] = mean_row(rows)
        results["given scores"] = rows
    else:
        widths: dict = {}
        for label, sc in _scorers(args).items():
            _fit_file_scorer(sc, args, widths)
            scores = {}
            for name, path in (("__id__", args.id), *oods.items()):
                arr = _kind_array(path, sc.input_kind, widths)
                try:
                    scores[name] = sc.score(arr)
                except InputError as e:
                    raise InputError(f"{path}: {e}") from e
            rows = {n: ood_metrics(scores["__id__"], scores[n], args.tpr, rule=args.rule,
                                   positive=args.positive) for n in oods}  # fmt: skip
            rows["mean"] = mean_row(rows)
            results[label] = rows
    conv = convention(args.tpr, args.rule, args.positive)
    print(
        f"FPR at {100 * args.tpr:g}% TPR ({conv['positive']} positive, {args.rule} rule); "
        "values in percent"
    )
    for label, rows in results.items():
        print(f"\n{label}")
        print(metrics_table(rows))
    if args.json:
        config = {k: v for k, v in vars(args).items() if k != "func"}
        atomic_write_json(
            args.json,
            {"convention": conv, "results": results, "run": run_metadata(seed=None, config=config)},
        )
    return 0


def run_folder(args: argparse.Namespace) -> int:
    from ..evaluate.run_eval import evaluate_model

    sets = [s.strip() for item in args.ood_set or [] for s in item.split(",") if s.strip()]
    paths = _parse_ood(args.ood or [])
    if not sets and not paths:
        raise InputError("--run-dir needs at least one --ood-set NAME or --ood NAME=PATH")
    methods = []
    from ..score import scorer_params

    for name in [s.strip() for s in args.score.split(",") if s.strip()]:
        spec = {"name": name}
        if args.T != 1.0 and "T" in scorer_params(name):
            spec["T"] = args.T
        methods.append(spec)
    report = args.report
    rt = runtime_from_args(args)
    src = load_source(args, rt)
    res = evaluate_model(
        src.model, src.data, sets, methods, data_root=args.data_root, tpr=args.tpr,
        rule=args.rule, positive=args.positive, runtime=rt, ood_paths=paths, head=src.head,
        gate_ratio=check_ratio(args.accuracy_gate), strict=args.strict,
        class_weights=src.class_weights,
    )  # fmt: skip
    if res is None:  # another process of a torchrun job: rank 0 reports
        return 0
    if args.save_scores:
        save_scores(args.save_scores, res["raw"])
    where = f"run {args.run}" if args.run else f"model {args.model}"
    if report is not None:
        from ..evaluate.eval_report import write_eval_report

        conv = convention(args.tpr, args.rule, args.positive)
        path = write_eval_report(report, res, conv, src.record, args.command_line, where)
        print(f"report: {path}")
    conv = convention(args.tpr, args.rule, args.positive)
    err = res["id_test_error"]
    err = "n/a (the model's classes are not the data set's)" if err is None else f"{100 * err:.2f}%"
    print(
        f"{where}: ID test error {err}; whole OOD sets; "
        f"FPR at {100 * args.tpr:g}% TPR ({conv['positive']} positive, {args.rule} rule); "
        "values in percent"
    )
    for label, rows in res["results"].items():
        print(f"\n{label}")
        print(metrics_table(rows))
    if args.json:
        config = {k: v for k, v in vars(args).items() if k != "func"}
        atomic_write_json(
            args.json,
            {
                "warning": res["warning"],
                "convention": conv,
                "results": res["results"],
                "id_test_error": res["id_test_error"],
                "id_accuracy_gate": res["gate"],
                "normalization": src.record.get("normalization"),
                **({"skipped_images": res["skipped_images"]} if res["skipped_images"] else {}),
                "run": run_metadata(seed=0, config=config, command=args.command_line),
            },
        )
    return 0


def save_scores(path: str, raw: dict) -> None:
    """Per-image scores as one .npz: ``METHOD/id`` and ``METHOD/SET`` arrays."""
    import io

    from .._runinfo import atomic_write_bytes

    arrays = {}
    for label, r in raw.items():
        arrays[f"{label}/id"] = np.asarray(r["id"])
        for name, s in r["ood"].items():
            arrays[f"{label}/{name}"] = np.asarray(s)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
