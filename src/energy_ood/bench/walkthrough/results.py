"""Typed results of the walk-through benchmark, as written to ``results.json``."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...io.typed_schema import to_plain


@dataclass
class WalkthroughResults:
    title: str
    convention: dict
    seeds: list[int]
    sets: list[str]
    scores: list[str]
    commands: dict[str, list[str]]  # seed -> command lines
    accuracy: dict[str, list[float]]  # "pretrained" | method -> per seed
    metrics: dict[str, dict]  # model -> score -> set -> metric -> per-seed list
    margins: list[dict]
    seconds: dict[str, list[float]]
    run: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    kind: str = "walkthrough"

    def to_plain(self) -> dict:
        return {k: to_plain(getattr(self, k)) for k in self.__dataclass_fields__}


def from_plain(d: dict) -> WalkthroughResults:
    """The typed results a results.json holds (the registry's reader of this protocol)."""
    return WalkthroughResults(**d)
