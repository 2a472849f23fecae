"""``energy-ood demo``: the main job. Train a small CNN on Fashion-MNIST with three seeds, score
six post-hoc methods against several OOD sets, fine-tune with energy vs Outlier Exposure, print
the claims with their paired verdicts, and write a report folder. Falls back to scikit-learn's
digits when Fashion-MNIST is not installed."""

from __future__ import annotations

from .._validate import InputError
from ..bench.config_files import load_config, parse_overrides
from ..bench.registry import run_protocol
from ..bench.stats import RULE
from ..data import load_dataset
from ..runtime.progress import log


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="the main job: train, score, fine-tune, report (~7 min)")
    p.add_argument(
        "--data-root",
        help="folder with mnist-test/ and cifar10-jpeg.tar.gz "
        "(e.g. ../shared/data); sets not found are skipped",
    )
    p.add_argument("--out", default="runs/demo", help="report folder (default runs/demo)")
    p.add_argument("--config", default="demo", help="config name or path (default: demo)")
    p.add_argument("--fresh", action="store_true", help="ignore checkpoints in --out")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config entry (TOML value), e.g. seeds=[0]; repeatable",
    )
    p.set_defaults(func=run)


def _has_fashion_mnist(data_root) -> bool:
    try:
        load_dataset("fashion-mnist", "test", data_root=data_root)
        return True
    except InputError as e:
        log(f"Fashion-MNIST not found ({e}); the demo runs on scikit-learn's digits instead.")
        return False


def run(args) -> int:
    from ..bench.config_files import find_config
    from ._paths import check_not_input, config_inputs

    name = args.config
    if name == "demo" and not _has_fashion_mnist(args.data_root):
        name = "demo_digits"
    cfg = load_config(name, parse_overrides(args.set), kind="ood")
    check_not_input(args, args.out, "--out", *config_inputs(cfg, find_config(name)))
    report = run_protocol(cfg, args.out, data_root=args.data_root, resume=not args.fresh,
                          command=args.command_line)  # fmt: skip
    if report is None:  # another process of a torchrun job
        return 0
    text = report.read_text()
    start = text.find("## Claims")
    end = text.find("## Table 1")
    print(text[start:end].strip() if start >= 0 else text)
    print("\n" + RULE)
    print(f"\nfull report: {report} (and report.html, results.json, plots)")
    return 0
