"""``energy-ood finetune``: fine-tune a trained run (or a given model) with any registered
objective: energy-bounded fine-tuning, Outlier Exposure, the single-margin ablation and MixOE
with auxiliary outliers; VOS, LogitNorm, ... without."""

from __future__ import annotations

from .._validate import InputError, check_int
from ..models.normalization import HELP as NORMALIZE_HELP
from ..train import methods
from ..train.runs import Pretrained, finetune
from ._paths import check_not_input
from ._runtime import runtime_from_args
from ._source import input_size
from .train import add_aux, add_common, names, parse_params, print_accuracy, train_config


def add_parser(sub) -> None:
    p = sub.add_parser(
        "finetune",
        help="fine-tune with a training objective (energy, OE, MixOE, VOS, ...)",
        description="Fine-tune a trained run with a training objective (--method), with "
        "auxiliary outliers for the methods that take them. Margins are chosen on validation "
        "data when not given.",
    )
    p.add_argument("--method", required=True, choices=methods(), help="training objective")
    p.add_argument("--from", dest="base", help="the pretrained run folder")
    p.add_argument(
        "--model",
        help="instead of --from: a model spec (torchvision:resnet50, timm:NAME, a registry "
        "name, or a TorchScript/exported file) with --checkpoint and --dataset",
    )
    p.add_argument("--checkpoint", help="with --model: local weights (state dict, weights_only)")
    p.add_argument("--dataset", help="with --model: the ID data set (a name or a path)")
    p.add_argument(
        "--input-size", type=input_size, help="with --model: override the model's input size"
    )
    p.add_argument("--normalize", metavar="MODE", help="with --model: " + NORMALIZE_HELP)
    p.add_argument(
        "--class-names", metavar="FILE", help="with --model: its classes in output order"
    )
    p.add_argument(
        "--new-head",
        action="store_true",
        help="with --model: replace a head whose class count differs from the data set's",
    )
    add_aux(p, "needed by energy, oe, single-margin and mixoe")
    p.add_argument("--m-in", type=float, help="energy margin for ID (default: from data)")
    p.add_argument("--m-out", type=float, help="energy margin for outliers (default: from data)")
    p.add_argument("--margin", type=float, help="single-margin ablation (default: from data)")
    p.add_argument(
        "--lam", type=float, help="weight of the method's extra term (energy 0.1, OE 0.5, ...)"
    )
    add_common(p, epochs=10, lr=0.001)
    p.set_defaults(func=run)


def _base(args):
    if (args.base is None) == (args.model is None):
        raise InputError("give either --from RUN_DIR or --model SPEC (with --dataset)")
    if args.base is not None:
        if args.checkpoint or args.dataset or args.new_head or args.normalize or args.class_names:
            raise InputError("--checkpoint, --dataset, --new-head, --normalize and --class-names "
                             "go with --model, not --from")  # fmt: skip
        return args.base
    if not args.dataset:
        raise InputError("--model needs --dataset (the in-distribution data set)")
    return Pretrained(args.model, args.checkpoint, args.dataset, args.new_head,
                      input_size=args.input_size, normalize=args.normalize,
                      class_names=args.class_names)  # fmt: skip


def run(args) -> int:
    base = _base(args)
    check_not_input(args, args.out, "--out")
    rt = runtime_from_args(args)
    cfg = train_config(args, rt, method=args.method, lam=args.lam, m_in=args.m_in,
                       m_out=args.m_out, margin=args.margin,
                       hparams=parse_params(args.param))  # fmt: skip
    res = finetune(
        base, args.method, names(args.aux), args.out, cfg, test_sets=names(args.test_sets),
        data_root=args.data_root, n_aux=check_int(args.n_aux, "--n-aux", min=1),
        resume=args.resume, runtime=rt, overwrite=args.overwrite,
    )  # fmt: skip
    print_accuracy(args, res)
    return 0
