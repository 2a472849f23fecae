"""The protocol contract, over every registered benchmark protocol (as the scorer contract test
does over the scorer registry): a protocol is a sub-package of ``energy_ood.bench`` with a typed
config, a run function, typed results and a report renderer of the shapes the registry calls;
a bundled config of its kind exists; ``bench --epochs/--trials`` reach the sections it names.
Each protocol's own end-to-end run is tested in its folder (tests/bench/<protocol>)."""

import dataclasses
import inspect

import pytest

from energy_ood._validate import InputError
from energy_ood.bench.config_files import bundled_configs, load_config
from energy_ood.bench.registry import Protocol, get_protocol, protocols, register_protocol
from energy_ood.bench.sections import RunOptions

PROTOCOLS = sorted(protocols())
KEYWORD = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _configs_of(kind: str) -> list[str]:
    return [n for n in bundled_configs() if load_config(n).kind == kind]


def _get(obj, dotted: str):
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("kind", PROTOCOLS)
def test_parts_have_the_shapes_the_registry_calls(kind):
    proto = get_protocol(kind)
    assert proto.package == f"energy_ood.bench.{proto.package.rsplit('.', 1)[-1]}"
    assert issubclass(proto.config_cls, RunOptions)
    run = inspect.signature(proto.run_fn())
    assert list(run.parameters)[:2] == ["cfg", "out"]
    for kw in ("data_root", "resume", "command"):
        assert run.parameters[kw].kind in KEYWORD, (kind, kw)  # the registry passes them by name
    render = inspect.signature(proto.render_fn())
    assert list(render.parameters)[:3] == ["res", "out", "command"]
    results_cls = render.parameters["res"].annotation
    assert dataclasses.is_dataclass(proto._part("results", results_cls)), results_cls
    assert hasattr(proto._part("results", results_cls), "to_plain")


@pytest.mark.parametrize("kind", PROTOCOLS)
def test_a_bundled_config_and_the_cli_overrides(kind):
    proto = get_protocol(kind)
    names = _configs_of(kind)
    assert names, f"no bundled config of kind {kind!r}"
    over = proto.cli_overrides(epochs=2, trials=None)
    cfg = load_config(names[0], over)
    assert _get(cfg, proto.epochs_key).epochs == 2
    if proto.trials_key is None:
        with pytest.raises(InputError, match="has no trials"):
            proto.cli_overrides(None, 1)
    else:
        cfg = load_config(names[0], proto.cli_overrides(None, 1))
        got = _get(cfg, proto.trials_key)
        assert (len(got) if proto.trials_key == "seeds" else got) == 1
        with pytest.raises(InputError, match=">= 1"):
            proto.cli_overrides(None, 0)


def test_unknown_kind_and_a_second_registration_are_refused():
    with pytest.raises(InputError, match="unknown benchmark kind"):
        get_protocol("no-such-kind")
    known = get_protocol(PROTOCOLS[0])
    with pytest.raises(ValueError, match="registered twice"):
        register_protocol(Protocol(**dataclasses.asdict(known)))
