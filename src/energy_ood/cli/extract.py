"""``energy-ood extract``: logits and penultimate features of a trained run, or of any model
(``--model SPEC --checkpoint FILE --dataset PATH``), on any data set.

  energy-ood extract --run-dir runs/base --set id=test --set val=val --set mnist \\
      --set mine=path/to/images --out feats.npz
      one .npz with keys <set>/logits, <set>/features (and <set>/labels for ID splits)
  energy-ood extract --run-dir runs/base --set id=test --out feats/
      a folder of .npy files (<set>.logits.npy, ...), written chunk by chunk: sets larger
      than memory are fine

A set is ``NAME=SOURCE``: SOURCE is ``train``, ``val`` or ``test`` (the run's own ID splits),
a named OOD set, or a path (image folder, .tar shard, file list, IDX or .npz) taken through the
run's ID transform; a bare ``NAME`` is a named OOD set. Under torchrun the extraction is
sharded and rank 0 writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .._validate import InputError
from ..evaluate.extract_sets import extract_to
from ._paths import check_out_file, check_out_folder
from ._runtime import add_runtime_args, runtime_from_args
from ._source import add_source_args, load_source, seed


def add_parser(sub) -> None:
    p = sub.add_parser(
        "extract",
        help="write a run's logits and features on any data set",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        required=True,
        metavar="NAME=SOURCE",
        help="a data set to extract (see above); repeat",
    )
    p.add_argument("--out", required=True, help="an .npz file, or a folder for .npy files")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--chunk", type=int, default=64, help="batches per chunk written (folder)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out file or folder"
    )
    p.add_argument("--seed", type=seed, default=0, help="seed of OOD draws")
    add_source_args(p)
    add_runtime_args(p, train=False)
    p.set_defaults(func=run)


def _parse_sets(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, source = item.partition("=")
        name, source = name.strip(), (source.strip() if sep else name.strip())
        if not name or not source or "/" in name or name in out:
            raise InputError(f"--set {item!r}: expected NAME=SOURCE with a new NAME")
        out[name] = source
    return out


def run(args) -> int:
    sets = _parse_sets(args.sets)
    out = Path(args.out)
    if out.suffix.lower() == ".npz":  # the arrays and their description, both kept unless asked
        for path in (out, out.with_suffix(".json")):
            check_out_file(args, path, "--out")
    else:
        check_out_folder(args, out, "--out")
    if args.batch_size < 1 or args.chunk < 1:
        raise InputError("--batch-size and --chunk must be >= 1")
    rt = runtime_from_args(args)
    src = load_source(args, rt)
    done = extract_to(src, sets, out, batch_size=args.batch_size, chunk=args.chunk,
                      seed=args.seed, data_root=args.data_root, runtime=rt,
                      command=args.command_line)  # fmt: skip
    if done:
        print(f"{out}: logits and features of {', '.join(sets)}")
    return 0
