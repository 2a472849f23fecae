"""``energy-ood evaluate``: metrics for precomputed logits (or scores) of ID and OOD sets, or
for a trained run folder against named OOD sets (``--run-dir DIR --ood-set mnist ...``)."""

from __future__ import annotations

import argparse

from .._validate import InputError
from ..evaluate.file_eval import FitFiles, evaluate_files
from ..evaluate.model_eval import evaluate_model, results_record, save_scores
from ..evaluate.report import write_eval_report
from ..evaluate.scoring import method_specs
from ..io.atomic_write import atomic_write_json
from ..metrics import convention
from ..metrics.accuracy_gate import check_ratio
from ..reporting.tables import metrics_table
from ..runtime.provenance import run_metadata
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


def _check_outputs(args) -> None:
    """Before any work: an existing output is kept unless asked, an input never replaced."""
    for flag in ("json", "save_scores"):
        path = getattr(args, flag, None)
        if path:
            check_out_file(args, path, f"--{flag.replace('_', '-')}")
    if args.report:
        check_out_folder(args, args.report, "--report")


def _names(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _print_results(results: dict, head: str) -> None:
    print(head)
    for label, rows in results.items():
        print(f"\n{label}")
        print(metrics_table(rows))


def _config(args) -> dict:
    return {k: v for k, v in vars(args).items() if k != "func"}


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
    results = evaluate_files(
        args.id, _parse_ood(args.ood), _names(args.score), T=args.T,
        given=args.input == "scores", fit=FitFiles(args.fit, args.labels, args.head),
        tpr=args.tpr, rule=args.rule, positive=args.positive,
    )  # fmt: skip
    conv = convention(args.tpr, args.rule, args.positive)
    _print_results(results, f"FPR at {100 * args.tpr:g}% TPR ({conv['positive']} positive, "
                            f"{args.rule} rule); values in percent")  # fmt: skip
    if args.json:
        run = run_metadata(seed=None, config=_config(args))
        atomic_write_json(args.json, {"convention": conv, "results": results, "run": run})
    return 0


def run_folder(args: argparse.Namespace) -> int:
    sets = [s.strip() for item in args.ood_set or [] for s in item.split(",") if s.strip()]
    paths = _parse_ood(args.ood or [])
    if not sets and not paths:
        raise InputError("--run-dir needs at least one --ood-set NAME or --ood NAME=PATH")
    methods = method_specs(_names(args.score), args.T)
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
    where, conv = src.spec.where, convention(args.tpr, args.rule, args.positive)
    if args.report is not None:
        path = write_eval_report(args.report, res, conv, src.record, args.command_line, where)
        print(f"report: {path}")
    err = res["id_test_error"]
    err = "n/a (the model's classes are not the data set's)" if err is None else f"{100 * err:.2f}%"
    _print_results(res["results"], f"{where}: ID test error {err}; whole OOD sets; FPR at "
                   f"{100 * args.tpr:g}% TPR ({conv['positive']} positive, {args.rule} rule); "
                   "values in percent")  # fmt: skip
    if args.json:
        run = run_metadata(seed=0, config=_config(args), command=args.command_line)
        record = results_record(res, conv, src.record.get("normalization"), run)
        atomic_write_json(args.json, record)
    return 0
