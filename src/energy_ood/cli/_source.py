"""Where a command's model and in-distribution data come from: a run folder (``--run-dir``),
or a model spec with local weights and a data set (``--model SPEC --checkpoint FILE --dataset
PATH``: torchvision:NAME, timm:NAME, a registry name, a TorchScript or exported program).

The data set is split as a run's would be (train / validation by seed, a held-out test part
when it has none) and taken through the model's own preprocessing (size, crop, normalisation).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from .._validate import MAX_INPUT_SIZE, MAX_SEED, InputError, check_int
from ..models.normalization import HELP as NORMALIZE_HELP


def input_size(text: str) -> int:
    """``--input-size``: a model input side in [8, MAX_INPUT_SIZE] (an argparse type)."""
    try:
        return check_int(text, "--input-size", min=8, max=MAX_INPUT_SIZE)
    except InputError:
        raise argparse.ArgumentTypeError(
            f"expected an integer in [8, {MAX_INPUT_SIZE}], got {text!r}"
        ) from None


def seed(text: str) -> int:
    """``--seed``: an integer in [0, 2^64 - 1] (what torch's generators take)."""
    try:
        return check_int(text, "--seed", min=0, max=MAX_SEED)
    except InputError:
        raise argparse.ArgumentTypeError(
            f"expected an integer in [0, 2^64 - 1], got {text!r}"
        ) from None


def add_run_dir(p, help_text: str = "a run folder") -> None:
    """``--run-dir DIR`` (``--run`` is kept for scripts, unlisted: torchrun's own parser takes
    any ``--run`` for its ``--run-path`` and stops before energy-ood starts)."""
    p.add_argument("--run-dir", dest="run", metavar="DIR", help=help_text)
    p.add_argument("--run", dest="run", help=argparse.SUPPRESS)


def add_source_args(p, *, run_required: bool = False, gate: bool = False) -> None:
    g = p.add_argument_group("the model and its in-distribution data")
    if gate:
        from ..evaluate.gate import DEFAULT_RATIO, HELP_RATIO, HELP_STRICT

        g.add_argument("--accuracy-gate", type=float, default=DEFAULT_RATIO, metavar="X",
                       help=HELP_RATIO)  # fmt: skip
        g.add_argument("--strict", action="store_true", help=HELP_STRICT)
    add_run_dir(g)
    g.add_argument(
        "--model",
        metavar="SPEC",
        help="instead of --run-dir: torchvision:NAME, timm:NAME, a registry name, or a "
        "TorchScript / exported program file (with --checkpoint and --dataset)",
    )
    g.add_argument("--checkpoint", help="with --model: local weights (loaded weights_only)")
    g.add_argument("--dataset", help="with --model: the ID data set (a name or a path)")
    g.add_argument("--input-size", type=input_size, help="with --model: override its input size")
    g.add_argument("--normalize", metavar="MODE", help="with --model: " + NORMALIZE_HELP)
    g.add_argument(
        "--class-names",
        metavar="FILE",
        help="with --model: the model's classes in the order of its outputs, one per line "
        "(default: the data set's order; for a folder, its sorted class folder names)",
    )
    g.add_argument("--data-root", help="folder holding the named data sets")


@dataclass
class Source:
    model: object
    data: object
    head: str | None
    record: dict = field(default_factory=dict)  # what the model is (JSON), for reports
    class_weights: object = None  # learned in the run's training (VOS), for weighted_ebo

    @property
    def classes_match(self) -> bool:
        return int(getattr(self.model, "num_classes", -1) or -1) == len(self.data.classes)


def has_source(args) -> bool:
    return bool(getattr(args, "run", None) or getattr(args, "model", None))


def load_source(args, runtime, seed: int = 0) -> Source:
    """The model (on the runtime's device) and ID data of ``--run-dir`` or ``--model``."""
    if bool(args.run) == bool(args.model):
        raise InputError("give either --run-dir DIR or --model SPEC (with --dataset)")
    if args.run:
        if args.checkpoint or args.dataset or args.input_size or args.normalize or args.class_names:
            raise InputError(
                "--checkpoint, --dataset, --input-size, --normalize and --class-names go with "
                "--model (a run folder's model takes the data and statistics it was trained with)"
            )
        from ..train.runs import load_run, run_class_weights

        model, data, run = load_run(args.run, args.data_root, data_mode=runtime.data_mode)
        note = "the run's own training statistics"
        data.extra.setdefault("normalization", note)
        data.extra.setdefault("normalize", "model")
        norm = {"normalize": "model", "mean": data.mean, "std": data.std, "note": note}
        record = {"run_dir": str(args.run), "arch": run["config"].get("arch"),
                  "normalization": norm}  # fmt: skip
        head = (run["config"].get("arch") or {}).get("head")
        weights = run_class_weights(args.run)
        return Source(model.to(runtime.device), data, head, record, weights)
    if not args.dataset:
        raise InputError("--model needs --dataset (the in-distribution data set)")
    from ..data.for_model import prepare_for_model
    from ..models import load_model

    lm = load_model(args.model, args.checkpoint, device=runtime.device, input_size=args.input_size)
    data = prepare_for_model(lm, args.dataset, args.data_root, seed, normalize=args.normalize,
                             class_names=args.class_names, data_mode=runtime.data_mode)  # fmt: skip
    n_model = lm.num_classes or 0
    if len(data.classes) < 2 <= n_model:
        raise InputError(
            f"{args.dataset}: {len(data.classes)} class ({', '.join(data.classes)}), for a "
            f"{n_model}-class model; in-distribution data needs at least 2 class folders "
            "(scores and errors over one class are no evaluation of a classifier)"
        )
    record = {"model": args.model, **lm.describe()}
    model = lm.model
    if not hasattr(model, "num_classes"):
        model.num_classes = lm.num_classes
    return Source(model, data, lm.head, record)
