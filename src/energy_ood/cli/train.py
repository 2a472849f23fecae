"""``energy-ood train``: cross-entropy (or rotation-task) training from scratch."""

from __future__ import annotations

from ..train import TrainConfig
from ..train.runs import pretrain


def add_common(p) -> None:
    p.add_argument("--out", required=True, help="run folder (checkpoint, run.json, metrics.json)")
    p.add_argument("--epochs", type=int, help="epochs")
    p.add_argument("--lr", type=float, help="base learning rate (cosine decay per step)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", help="folder holding the data sets (see README)")
    p.add_argument(
        "--resume", action="store_true", help="continue from the run folder's last epoch checkpoint"
    )
    p.add_argument("--augment", default="crop", choices=("none", "crop", "crop-flip"))
    p.add_argument(
        "--bf16", action="store_true", help="bfloat16 autocast (faster on CPUs with bf16)"
    )


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a classifier with cross-entropy",
        description="Train a classifier from scratch (Nesterov SGD, cosine).",
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
    p.add_argument("--center-mask", action="store_true", help="the random masking ablation")
    p.add_argument("--train-limit", type=int, help="use only this many training images")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    cfg = TrainConfig(
        method="rotation" if args.rotation else "ce",
        epochs=args.epochs or 5,
        lr=args.lr or 0.1,
        batch_size=args.batch_size,
        seed=args.seed,
        augment=args.augment,
        center_mask=args.center_mask,
        bf16=args.bf16,
        lam=args.rotation_lambda if args.rotation else None,
    )
    res = pretrain(
        args.dataset,
        args.model,
        args.out,
        cfg,
        data_root=args.data_root,
        resume=args.resume,
        train_limit=args.train_limit,
    )
    print(f"{args.out}: test accuracy {100 * res['metrics']['test_accuracy']:.2f}%")
    return 0
