"""``energy-ood bench``: the full benchmarks from config files under configs/.

energy-ood bench fmnist                        dataset-vs-dataset, sweeps, ablations
energy-ood bench cifar10                       the same with CIFAR-10 as ID (GPU advised)
energy-ood bench holdout --dataset fashion-mnist   hold-out-class AP, with/without rotation
energy-ood bench path/to/my.toml               any config of either kind

--set KEY=VALUE overrides any config entry, e.g. a quick smoke run of the CIFAR-10 benchmark:
energy-ood bench cifar10 --set data.train_limit=5000 --set pretrain.epochs=2 \
    --set finetune.epochs=1 --set sweeps.temperatures=[1,10]
"""

from __future__ import annotations

from ..evaluate.config import load_config, merge, parse_overrides

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
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config entry (TOML value), e.g. pretrain.epochs=2; repeatable",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    name = HOLDOUT.get(args.dataset, args.dataset) if args.name == "holdout" else args.name
    over: dict = {}
    cfg = load_config(name)
    if args.trials:
        over["trials"] = args.trials
    if args.epochs:
        over["train" if cfg.get("kind") == "holdout" else "pretrain"] = {"epochs": args.epochs}
    cfg = load_config(name, merge(over, parse_overrides(args.set)))
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
