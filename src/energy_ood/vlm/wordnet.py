"""WordNet noun synsets from the Debian package ``wordnet-base`` (``data.noun``, WordNet 3.0).

Each data line (wndb(5WN)): ``offset lex_filenum ss_type w_cnt word lex_id ... | gloss``. The
lexicographer file number maps to a category through ``lexnames``; wordnet-base does not ship
that file, so the noun rows of the table in lexnames(5WN) (which it does ship) are built in,
and a ``lexnames`` file next to ``data.noun`` is used instead when present. The gloss is the
definition: the text after ``|`` up to the first quoted example.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .._validate import InputError

DEFAULT_DIR = Path("/usr/share/wordnet")

NOUN_LEXNAMES = {
    3: "noun.Tops", 4: "noun.act", 5: "noun.animal", 6: "noun.artifact", 7: "noun.attribute",
    8: "noun.body", 9: "noun.cognition", 10: "noun.communication", 11: "noun.event",
    12: "noun.feeling", 13: "noun.food", 14: "noun.group", 15: "noun.location",
    16: "noun.motive", 17: "noun.object", 18: "noun.person", 19: "noun.phenomenon",
    20: "noun.plant", 21: "noun.possession", 22: "noun.process", 23: "noun.quantity",
    24: "noun.relation", 25: "noun.shape", 26: "noun.state", 27: "noun.substance",
    28: "noun.time",
}  # fmt: skip

_EXAMPLE = re.compile(r';\s*"')


@dataclass(frozen=True)
class Synset:
    offset: int
    category: str  # lexicographer file name, e.g. "noun.animal"
    lemmas: tuple[str, ...]
    gloss: str  # the definition, without the quoted examples


def read_lexnames(wordnet_dir: str | Path = DEFAULT_DIR) -> dict[int, str]:
    path = Path(wordnet_dir) / "lexnames"
    if not path.exists():
        return dict(NOUN_LEXNAMES)
    out = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit():
            out[int(parts[0])] = parts[1]
    return out


def parse_line(line: str, lexnames: dict[int, str]) -> Synset | None:
    """One data.noun line -> Synset (``None`` for the license header)."""
    if not line or line.startswith(" "):
        return None
    head, sep, gloss = line.partition(" | ")
    fields = head.split()
    if not sep or len(fields) < 6:
        raise InputError(f"data.noun: malformed line {line[:60]!r}")
    lex = int(fields[1])
    n_words = int(fields[3], 16)
    lemmas = tuple(fields[4 + 2 * i].replace("_", " ") for i in range(n_words))
    definition = _EXAMPLE.split(gloss.strip(), maxsplit=1)[0].strip().rstrip(";").strip()
    return Synset(int(fields[0]), lexnames.get(lex, f"lex{lex:02d}"), lemmas, definition)


def load_noun_synsets(wordnet_dir: str | Path = DEFAULT_DIR) -> list[Synset]:
    """Every noun synset of ``wordnet_dir/data.noun``, in file order."""
    path = Path(wordnet_dir) / "data.noun"
    if not path.exists():
        raise InputError(
            f"{path} not found; install the Debian package wordnet-base "
            "(apt-get install wordnet-base) or give the folder holding data.noun"
        )
    lexnames = read_lexnames(wordnet_dir)
    with open(path, encoding="utf-8", errors="replace") as f:
        out = [s for line in f if (s := parse_line(line.rstrip("\n"), lexnames)) is not None]
    return out


def category_name(lexname: str) -> str:
    """``noun.animal`` -> ``animal`` (the class name used in prompts)."""
    return lexname.split(".", 1)[-1]
