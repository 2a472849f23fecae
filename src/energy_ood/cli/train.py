"""``energy-ood train``: training from scratch with any registered objective (cross-entropy by
default; the rotation task, LogitNorm, VOS, energy-scratch, ...)."""

from __future__ import annotations

from .._validate import InputError, check_int
from ..runtime import dist
from ..train import TrainConfig, methods
from ..train.runs import pretrain
from ._paths import check_not_input
from ._runtime import add_runtime_args, runtime_from_args
from ._source import seed

PARAM_HELP = (
    "a hyperparameter of the method, KEY=VALUE (repeatable; e.g. tau=0.04 for logitnorm, "
    "queue_size=200 for vos, mix=cutmix for mixoe; README lists each method's)"
)


def add_common(p, epochs: int, lr: float) -> None:
    p.add_argument("--out", required=True, help="run folder (checkpoint, run.json, metrics.json)")
    p.add_argument("--epochs", type=int, default=epochs, help=f"epochs (default {epochs})")
    p.add_argument(
        "--lr", type=float, default=lr, help=f"base learning rate, cosine decay per step ({lr})"
    )
    p.add_argument("--batch-size", type=int, default=128, help="global batch size (128)")
    p.add_argument("--seed", type=seed, default=0, help="seed of data order, init, ... (0)")
    p.add_argument("--data-root", help="folder holding the data sets (see README)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue this run from its last epoch checkpoint (the run's data, model and "
        "options must be the same)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    p.add_argument("--augment", default="crop", choices=("none", "crop", "crop-flip"))
    p.add_argument("--bf16", action="store_true", help="the same as --amp bf16 (kept for scripts)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help=PARAM_HELP)
    add_runtime_args(p)


def add_aux(p, required_note: str) -> None:
    p.add_argument(
        "--aux",
        default="",
        help="comma-separated auxiliary outlier sources (e.g. cifar10-train-grey,scenes-aux,"
        f"textures-aux); {required_note}",
    )
    p.add_argument(
        "--test-sets",
        default="",
        help="comma-separated OOD test sets of this study: an auxiliary source "
        "that is also a test set is refused",
    )
    p.add_argument("--n-aux", type=int, default=20000, help="auxiliary outliers to draw (>= 1)")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a classifier from scratch (cross-entropy, LogitNorm, VOS, ...)",
        description="Train a classifier from scratch (Nesterov SGD, cosine) with a training "
        "objective (--method, default ce). Runs on any device; under torchrun on several "
        "processes (DistributedDataParallel).",
    )
    p.add_argument(
        "--dataset", default="fashion-mnist", help="fashion-mnist | mnist | cifar10 | digits"
    )
    p.add_argument("--model", default="cnn", help="registry name (cnn, wrn40_2, resnet18, ...)")
    p.add_argument("--method", default="ce", choices=methods(), help="training objective (ce)")
    p.add_argument(
        "--rotation",
        action="store_true",
        help="add the rotation-prediction head and task (semantic-anomaly paper); the same "
        "as --method rotation",
    )
    p.add_argument("--rotation-lambda", type=float, default=0.5)
    p.add_argument(
        "--rotation-updates",
        default="alternating",
        choices=("alternating", "summed"),
        help="alternating class and rotation updates (the paper's code) or one summed update",
    )
    p.add_argument("--center-mask", action="store_true", help="the random masking ablation")
    p.add_argument("--train-limit", type=int, help="use only this many training images (>= 2)")
    add_aux(p, "for a method that trains with outliers (energy-scratch, oe, mixoe, ...)")
    add_common(p, epochs=5, lr=0.1)
    p.set_defaults(func=run)


def parse_params(items: list[str]) -> dict:
    """``["tau=0.04", "mix=cutmix"]`` -> {"tau": 0.04, "mix": "cutmix"}: values read as TOML
    (numbers, booleans, quoted strings), anything else taken as a string."""
    import tomllib

    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise InputError(f"--param {item!r}: expected KEY=VALUE, e.g. tau=0.04")
        if key in out:
            raise InputError(f"--param {key} is given twice")
        try:
            out[key] = tomllib.loads(f"v = {raw.strip()}")["v"]
        except (tomllib.TOMLDecodeError, RecursionError, ValueError):
            out[key] = raw.strip()
    return out


def names(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def train_config(args, rt, **extra) -> TrainConfig:
    """The TrainConfig of the options every training command shares, and ``extra``."""
    return TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                       augment=args.augment, amp=rt.amp, **extra)  # fmt: skip


def print_accuracy(args, res: dict) -> None:
    if dist.is_main():
        print(f"{args.out}: test accuracy {100 * res['metrics']['test_accuracy']:.2f}%")


def run(args) -> int:
    check_not_input(args, args.out, "--out")
    if args.rotation and args.method not in ("ce", "rotation"):
        raise InputError(f"--rotation is --method rotation; not with --method {args.method}")
    method = "rotation" if args.rotation else args.method
    rt = runtime_from_args(args)
    rotation = {"lam": args.rotation_lambda} if method == "rotation" else {}
    cfg = train_config(args, rt, method=method, center_mask=args.center_mask,
                       rotation_updates=args.rotation_updates,
                       hparams={**rotation, **parse_params(args.param)})  # fmt: skip
    limit = (
        None if args.train_limit is None else check_int(args.train_limit, "--train-limit", min=2)
    )
    res = pretrain(args.dataset, args.model, args.out, cfg, data_root=args.data_root,
                   resume=args.resume, train_limit=limit, runtime=rt, overwrite=args.overwrite,
                   aux=names(args.aux), test_sets=names(args.test_sets),
                   n_aux=check_int(args.n_aux, "--n-aux", min=1))  # fmt: skip
    print_accuracy(args, res)
    return 0
