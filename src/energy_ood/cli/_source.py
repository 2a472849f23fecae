"""The options that say where a command's model and in-distribution data come from: a run
folder (``--run-dir``), or a model spec with local weights and a data set (``--model SPEC
--checkpoint FILE --dataset PATH``); loaded by :func:`energy_ood.evaluate.source.load_source`.
"""

from __future__ import annotations

import argparse

from .._validate import MAX_INPUT_SIZE, MAX_SEED, InputError, check_int
from ..evaluate.source import ModelSource, SourceSpec
from ..evaluate.source import load_source as load_model_source
from ..models.normalization import HELP as NORMALIZE_HELP


def _int_in(flag: str, lo: int, hi: int, shown: str):
    """An argparse type: an integer in [lo, hi] (``shown`` spells the range in the error)."""

    def parse(text: str) -> int:
        try:
            return check_int(text, flag, min=lo, max=hi)
        except InputError:
            raise argparse.ArgumentTypeError(
                f"expected an integer in {shown}, got {text!r}"
            ) from None

    return parse


# ``--input-size``: a model input side; ``--seed``: what torch's generators take
input_size = _int_in("--input-size", 8, MAX_INPUT_SIZE, f"[8, {MAX_INPUT_SIZE}]")
seed = _int_in("--seed", 0, MAX_SEED, "[0, 2^64 - 1]")


def add_run_dir(p, help_text: str = "a run folder") -> None:
    """``--run-dir DIR`` (``--run`` is kept for scripts, unlisted: torchrun's own parser takes
    any ``--run`` for its ``--run-path`` and stops before energy-ood starts)."""
    p.add_argument("--run-dir", dest="run", metavar="DIR", help=help_text)
    p.add_argument("--run", dest="run", help=argparse.SUPPRESS)


def add_source_args(p, *, run_required: bool = False, gate: bool = False) -> None:
    g = p.add_argument_group("the model and its in-distribution data")
    if gate:
        from ..metrics.accuracy_gate import DEFAULT_RATIO, HELP_RATIO, HELP_STRICT

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


def has_source(args) -> bool:
    return bool(getattr(args, "run", None) or getattr(args, "model", None))


def source_spec(args) -> SourceSpec:
    """Where ``--run-dir`` or ``--model`` (and its companions) say the model comes from."""
    return SourceSpec(args.run, args.model, args.checkpoint, args.dataset, args.input_size,
                      args.normalize, args.class_names, args.data_root)  # fmt: skip


def load_source(args, runtime, seed: int = 0) -> ModelSource:
    """The model (on the runtime's device) and ID data of ``--run-dir`` or ``--model``."""
    return load_model_source(source_spec(args), runtime, seed)
