"""``energy-ood train``: cross-entropy (or rotation-task) training from scratch."""

from __future__ import annotations

from .._validate import check_int
from ..runtime import dist
from ..train import TrainConfig
from ..train.runs import pretrain
from ._paths import check_not_input
from ._runtime import add_runtime_args, runtime_from_args
from ._source import seed


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
    add_runtime_args(p)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a classifier with cross-entropy",
        description="Train a classifier from scratch (Nesterov SGD, cosine). Runs on any "
        "device; under torchrun on several processes (DistributedDataParallel).",
    )
    p.add_argument(
        "--dataset", default="fashion-mnist", help="fashion-mnist | mnist | cifar10 | digits"
    )
    p.add_argument("--model", default="cnn", help="registry name (cnn, wrn40_2, resnet18, ...)")
    p.add_argument(
        "--rotation",
        action="store_true",
        help="add the rotation-prediction head and task (semantic-anomaly paper)",
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
    add_common(p, epochs=5, lr=0.1)
    p.set_defaults(func=run)


def train_config(args, rt, **extra) -> TrainConfig:
    """The TrainConfig of the options every training command shares, and ``extra``."""
    return TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                       augment=args.augment, amp=rt.amp, **extra)  # fmt: skip


def print_accuracy(args, res: dict) -> None:
    if dist.is_main():
        print(f"{args.out}: test accuracy {100 * res['metrics']['test_accuracy']:.2f}%")


def run(args) -> int:
    check_not_input(args, args.out, "--out")
    rt = runtime_from_args(args)
    cfg = train_config(
        args, rt, method="rotation" if args.rotation else "ce", center_mask=args.center_mask,
        lam=args.rotation_lambda if args.rotation else None,
        rotation_updates=args.rotation_updates,
    )  # fmt: skip
    limit = (
        None if args.train_limit is None else check_int(args.train_limit, "--train-limit", min=2)
    )
    res = pretrain(args.dataset, args.model, args.out, cfg, data_root=args.data_root,
                   resume=args.resume, train_limit=limit, runtime=rt,
                   overwrite=args.overwrite)  # fmt: skip
    print_accuracy(args, res)
    return 0
