"""``energy-ood vlm``: vision-language OOD scores.

  energy-ood vlm bench --config configs/vlm_wordnet.toml --out DIR
      WordNet gloss benchmark: zero-shot scores, then CoOp prompt tuning (CE, CE+EBM)
  energy-ood vlm zeroshot --config configs/vlm_wordnet.toml --out DIR   (no prompt tuning)
  energy-ood vlm tune --config configs/vlm_wordnet.toml --out DIR --loss ce+ebm
      the benchmark with the chosen tuning losses; context checkpoints in DIR/prompts/
  energy-ood vlm score --classes animal,plant --texts id.txt --ood-texts ood.txt --out DIR
      your own texts (sentence encoder) or images (--encoder openclip --pretrained FILE
      --images DIR)

Delta-Energy's defaults and the EBM loss are reconstructions (see the report).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from .._validate import InputError
from ._paths import check_not_input, check_out_file
from ._runtime import add_runtime_args

SCORERS = ("mcm", "clip_msp", "clip_maxlogit", "clip_energy", "delta_energy")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "vlm",
        help="vision-language OOD scores: MCM, energy, Delta-Energy, prompt tuning",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    vsub = p.add_subparsers(dest="vlm_command", required=True, metavar="SUBCOMMAND")
    for name, helptext in (
        ("bench", "zero-shot scores and prompt tuning on WordNet glosses"),
        ("zeroshot", "the WordNet benchmark's zero-shot part only"),
        ("tune", "the WordNet benchmark with the chosen prompt-tuning losses"),
    ):
        q = vsub.add_parser(name, help=helptext)
        q.add_argument(
            "--config", default="vlm_wordnet", help="bundled config name or a .toml path"
        )
        q.add_argument("--out", help="report folder (default runs/vlm_<subcommand>)")
        q.add_argument("--splits", type=int, help="override data.splits")
        q.add_argument("--epochs", type=int, help="override tune.epochs")
        q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config entry (TOML value), e.g. data.splits=2")  # fmt: skip
        if name == "tune":
            q.add_argument("--loss", action="append", choices=("ce", "ce+ebm"),
                           help="tuning loss; repeat for both (default: both)")  # fmt: skip
        add_runtime_args(q, train=False, data=False, amp=False)  # encoders run in fp32
        q.set_defaults(func=run_bench)
    _add_score_parser(vsub)


def _add_score_parser(vsub) -> None:
    q = vsub.add_parser("score", help="score your own texts or images against class names")
    q.add_argument("--classes", required=True, help="comma-separated class names, or @FILE")
    q.add_argument("--template", action="append", help="prompt template with {} (repeatable)")
    q.add_argument("--encoder", default="sentence", choices=("sentence", "openclip"))
    q.add_argument("--model", help="sentence-transformers folder, or open_clip model name")
    q.add_argument(
        "--pretrained", help="open_clip: local checkpoint file (required; never downloaded)"
    )
    q.add_argument(
        "--random-init",
        action="store_true",
        help="open_clip: random weights instead of --pretrained (meaningless scores; tests only)",
    )
    q.add_argument("--texts", help="ID (or unlabelled) texts, one per line")
    q.add_argument("--ood-texts", help="OOD texts, one per line (for metrics)")
    q.add_argument("--images", help="ID (or unlabelled) image file or folder (open_clip)")
    q.add_argument("--ood-images", help="OOD image file or folder (open_clip)")
    q.add_argument("--context", help="prompt-context checkpoint from 'vlm tune'")
    q.add_argument("--scorer", action="append", choices=SCORERS, help="default: all")
    q.add_argument("--logit-scale", type=float, default=100.0)
    q.add_argument("--tau", type=float, default=1.0, help="MCM temperature")
    q.add_argument("--c", type=int, default=1, help="Delta-Energy crop count")
    q.add_argument("--floor", type=float, default=0.0, help="Delta-Energy floor")
    q.add_argument("--out", help="folder for results.json (printed otherwise)")
    q.add_argument("--overwrite", action="store_true", help="replace an existing results.json")
    add_runtime_args(q, train=False, data=False, amp=False)
    q.set_defaults(func=run_score)


def run_bench(args) -> int:
    from ..bench.config_files import find_config, load_config, merge, parse_overrides
    from ..bench.registry import run_protocol
    from ._paths import config_inputs
    from .bench import _runtime_overrides

    over: dict = {"data": {"splits": args.splits}, "tune": {"epochs": args.epochs}}
    if args.vlm_command == "zeroshot":
        over["tune"]["losses"] = []
    elif args.vlm_command == "tune" and args.loss:
        over["tune"]["losses"] = list(dict.fromkeys(args.loss))
    over = merge(merge(over, parse_overrides(args.set)), _runtime_overrides(args))
    cfg = load_config(args.config, over, kind="vlm")
    out = args.out or f"runs/vlm_{args.vlm_command}"
    check_not_input(args, out, "--out", *config_inputs(cfg, find_config(args.config)))
    report = run_protocol(cfg, out, command=args.command_line)
    if report is not None:  # None: another process of a torchrun job
        print(report.read_text())
    return 0


def _scorers(args) -> dict:
    params = {
        "mcm": {"tau": args.tau},
        "delta_energy": {"c": args.c, "floor": args.floor, "logit_scale": args.logit_scale},
    }
    names = list(dict.fromkeys(args.scorer or SCORERS))
    return {n: (n, params.get(n, {"logit_scale": args.logit_scale})) for n in names}


def _load_encoder(kind: str, kw: dict):
    """The encoder; open_clip's random-weights warning becomes one line on stderr."""
    from ..vlm.encoders import load_encoder
    from ..vlm.openclip import RandomInitWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RandomInitWarning)
        enc = load_encoder(kind, **kw)
    for w in caught:
        if issubclass(w.category, RandomInitWarning):
            print(f"energy-ood vlm score: warning: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return enc


def run_score(args) -> int:
    from ..io.atomic_write import atomic_write_json
    from ..reporting.tables import metrics_table
    from ..runtime.device import resolve_device
    from ..runtime.provenance import run_metadata
    from ..runtime.threads import set_threads
    from ..vlm.apply import read_classes, read_sets, score_inputs
    from ..vlm.zeroshot import check_template

    for t in args.template or []:  # before any model is loaded
        check_template(t, "--template")
    if args.out:  # before any work: an existing results.json is kept unless asked
        check_not_input(args, args.out, "--out")
        check_out_file(args, Path(args.out) / "results.json", "--out")
    kw = {"model": args.model} if args.model else {}
    kw["device"] = str(resolve_device(args.device))
    set_threads(args.threads)
    if args.encoder == "openclip":
        kw.update(pretrained=args.pretrained, random_init=args.random_init)
    elif args.pretrained or args.random_init:
        raise InputError("--pretrained and --random-init apply to --encoder openclip only")

    classes = read_classes(args.classes)
    sets = read_sets(args.texts, args.images, args.ood_texts, args.ood_images)
    enc = _load_encoder(args.encoder, kw)
    templates = args.template or ["a photo of a {}."]
    res = score_inputs(enc, classes, sets, _scorers(args), templates, args.context)
    if "metrics" in res:
        print(metrics_table(res["metrics"], first_col="scorer"))
    else:
        for i, p in enumerate(res["id"]["pred"][:20]):
            print(f"{i}\t{classes[p]}")
    if args.out:
        res["run"] = run_metadata(
            seed=None,
            config=vars(args) | {"func": None},
            data={"encoder": enc.describe()},
            command=args.command_line,
        )
        atomic_write_json(Path(args.out) / "results.json", res)
    return 0
