"""Re-render benchmark reports from their results.json, without re-running anything.

    python scripts/rerender_results.py docs/results/fmnist [more folders ...]
    python scripts/rerender_results.py --check docs/results/*    # exit 1 if a report differs

Each folder's results.json is read back into its protocol's typed results (``kind`` names the
protocol) and rendered with the current code: report.md, report.html and results.json are
rewritten and the plots that need only results.json are redrawn. Plots that need the raw scores
of a run (histograms, ROC curves) are not in results.json: the PNGs already in the folder are
kept and still linked. ``--check`` renders into a temporary folder and compares report.md with
the committed one, writing nothing. Run from the repository root (``src/`` is put on the path).
"""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def render(folder: Path, out: Path) -> Path:
    """Render ``folder``'s results.json into ``out`` (the same folder or a copy of it)."""
    from energy_ood._validate import InputError
    from energy_ood.bench.registry import get_protocol

    try:
        d = json.loads((folder / "results.json").read_text())
    except ValueError as e:
        raise InputError(f"{folder / 'results.json'}: not JSON ({e})") from None
    proto = get_protocol(d.get("kind") if isinstance(d, dict) else None)
    res = proto.results_from_plain(d)
    return proto.render_fn()(res, out, command=(d.get("run") or {}).get("command", ""))


def check(folder: Path) -> bool:
    """True when rendering ``folder`` reproduces its report.md byte for byte."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / folder.name
        shutil.copytree(folder, copy)
        new = render(folder, copy).read_text()
    old = (folder / "report.md").read_text()
    if new == old:
        return True
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), "committed", "rendered",
                                lineterm="", n=1)  # fmt: skip
    print(f"{folder}/report.md differs from a re-render:", *list(diff)[:40], sep="\n")
    return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", type=Path, help="folders holding a results.json")
    ap.add_argument("--check", action="store_true", help="compare, write nothing; exit 1 on a "
                    "difference")  # fmt: skip
    args = ap.parse_args(argv)
    for f in args.folders:
        if not (f / "results.json").is_file():
            print(f"{f}: no results.json", file=sys.stderr)
            return 2
    from energy_ood._validate import InputError

    try:
        if args.check:
            return 0 if all([check(f) for f in args.folders]) else 1
        for f in args.folders:
            print(render(f, f))
    except InputError as e:
        print(f"rerender_results.py: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
