"""``energy-ood bench``: the full benchmarks from config files under configs/.

energy-ood bench fmnist                        dataset-vs-dataset, sweeps, ablations
energy-ood bench cifar10                       the same with CIFAR-10 as ID (GPU advised)
energy-ood bench holdout --dataset fashion-mnist   hold-out-class AP, with/without rotation
energy-ood bench path/to/my.toml               any config of either kind
"""

from __future__ import annotations

from ..evaluate.config import load_config

HOLDOUT = {
    "fashion-mnist": "holdout_fmnist",
    "cifar10": "holdout_cifar10",
    "digits": "holdout_digits",
}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="full benchmarks (fmnist, cifar10, holdout, or a config)",
        description=__doc__,
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="fmnist | cifar10 | holdout | a config name or .toml path")
    p.add_argument("--dataset", default="fashion-mnist", help="for holdout: " + ", ".join(HOLDOUT))
    p.add_argument("--out", help="report folder (default runs/bench_<name>)")
    p.add_argument("--data-root", help="folder with mnist-test/ and cifar10-jpeg.tar.gz")
    p.add_argument("--trials", type=int, help="hold-out-class: override the number of trials")
    p.add_argument("--epochs", type=int, help="override the pretraining / training epochs")
    p.add_argument("--fresh", action="store_true", help="ignore checkpoints in --out")
    p.set_defaults(func=run)


def run(args) -> int:
    name = HOLDOUT.get(args.dataset, args.dataset) if args.name == "holdout" else args.name
    over: dict = {}
    cfg = load_config(name)
    if args.trials:
        over["trials"] = args.trials
    if args.epochs:
        over["train" if cfg.get("kind") == "holdout" else "pretrain"] = {"epochs": args.epochs}
    cfg = load_config(name, over)
    out = args.out or f"runs/bench_{name}"
    command = args.command_line
    if cfg.get("kind") == "holdout":
        from ..evaluate.holdout import run_holdout
        from ..evaluate.holdout_report import render

        res = run_holdout(cfg, out, data_root=args.data_root, resume=not args.fresh)
    else:
        from ..evaluate.ood_bench import run_ood_benchmark
        from ..evaluate.ood_report import render

        res = run_ood_benchmark(cfg, out, data_root=args.data_root, resume=not args.fresh)
    report = render(res, out, command=command)
    print(report.read_text())
    return 0
