"""``energy-ood bench``: the full benchmarks from config files under configs/.

energy-ood bench fmnist                        dataset-vs-dataset, sweeps, ablations (3 seeds)
energy-ood bench cifar10                       the same with CIFAR-10 as ID (GPU advised)
energy-ood bench cifar10_cpu                   CIFAR-10 on 2 CPU cores (ResNet-9, ~90 min)
energy-ood bench holdout --dataset fashion-mnist   hold-out-class AP, with/without rotation
energy-ood bench vlm_wordnet                   WordNet gloss benchmark (vision-language scores)
energy-ood bench walkthrough                   README's train / finetune / evaluate numbers
energy-ood bench path/to/my.toml               any config; its `kind` picks the protocol

--set KEY=VALUE overrides any config entry, e.g. a quick smoke run of the CIFAR-10 benchmark:
energy-ood bench cifar10 --set data.train_limit=5000 --set pretrain.epochs=2 \
    --set finetune.epochs=1 --set sweeps.temperatures=[1,10] --set seeds=[0]
"""

from __future__ import annotations

import argparse

from ..bench.config_files import load_config, load_raw, merge, parse_overrides
from ..bench.registry import get_protocol, protocols, run_protocol
from ._paths import check_not_input, config_inputs
from ._runtime import add_bad_images_arg, add_runtime_args

HOLDOUT = {
    "fashion-mnist": "holdout_fmnist",
    "cifar10": "holdout_cifar10",
    "digits": "holdout_digits",
}


def add_parser(sub) -> None:
    kinds = "; ".join(f"{k}: {p.summary}" for k, p in protocols().items())
    p = sub.add_parser(
        "bench",
        help="full benchmarks (fmnist, cifar10, holdout, vlm_wordnet, walkthrough, or a config)",
        description=__doc__ + f"\nKinds of config: {kinds}.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="a bundled config name (or holdout) or a .toml path")
    p.add_argument("--dataset", default="fashion-mnist", help="for holdout: " + ", ".join(HOLDOUT))
    p.add_argument("--out", help="report folder (default runs/bench_<name>)")
    p.add_argument("--data-root", help="folder with mnist-test/ and cifar10-jpeg.tar.gz")
    p.add_argument("--trials", type=int, help="override the number of seeds / trials / splits")
    p.add_argument("--epochs", type=int, help="override the (pre)training / tuning epochs")
    p.add_argument("--fresh", action="store_true", help="ignore checkpoints in --out")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config entry (TOML value), e.g. pretrain.epochs=2; repeatable",
    )
    add_runtime_args(p, train=False, data=False)
    add_bad_images_arg(p)
    p.set_defaults(func=run)


def _runtime_overrides(args) -> dict:
    """--device / --amp / --threads / --bad-images win over the config's keys."""
    keys = ("device", "amp", "threads", "bad_images")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None)}


def run(args) -> int:
    name = HOLDOUT.get(args.dataset, args.dataset) if args.name == "holdout" else args.name
    raw, path = load_raw(name)
    proto = get_protocol(raw.get("kind", "ood"))
    over = merge(proto.cli_overrides(args.epochs, args.trials), parse_overrides(args.set))
    over = merge(over, _runtime_overrides(args))
    cfg = load_config(name, over)
    out = args.out or f"runs/bench_{name}"
    check_not_input(args, out, "--out", *config_inputs(cfg, path))
    report = run_protocol(cfg, out, data_root=args.data_root, resume=not args.fresh,
                          command=args.command_line)  # fmt: skip
    if report is not None:  # None: another process of a torchrun job
        print(report.read_text())
    return 0
