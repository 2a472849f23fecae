"""The margin sweep's choice: by validation FPR95 against a family of its own, ties named with
the tie-break that decided; and the config rule that keeps that family apart."""

import pytest

from energy_ood._validate import InputError
from energy_ood.bench.config_files import load_config, parse_overrides
from energy_ood.bench.ood.disclosure import departures
from energy_ood.bench.ood.margin_choice import choice_text, choose
from energy_ood.bench.ood.results import MarginPoint, MarginSweep


def _pt(offset, fpr, err, auroc=None) -> MarginPoint:
    return MarginPoint([-offset, offset], -5 - offset, -3 + offset, fpr, err, 0.5, err, auroc)


def test_points_that_differ():
    pts = [_pt(0, 0.30, 0.10, 0.90), _pt(2, 0.12, 0.11, 0.95), _pt(4, 0.20, 0.09, 0.93)]
    best, how = choose(pts)
    assert best == 1 and how == {"criterion": "val_fpr95", "tied": [1], "broken_by": []}
    text = choice_text(pts, best, how)
    assert text == ("offset -2 / +2 chosen by the lowest validation FPR95 (12.00% vs "
                    "20.00%-30.00% for the other 2)")  # fmt: skip
    assert "tie" not in text


def test_ties_are_named_with_their_tie_break():
    # the audit's case: every point at 0.00, only the validation error differs
    pts = [_pt(0, 0.0, 0.0960), _pt(2, 0.0, 0.0947), _pt(4, 0.0, 0.0965), _pt(8, 0.0, 0.0982)]
    best, how = choose(pts)
    assert best == 1 and how["tied"] == [0, 1, 2, 3] and how["broken_by"] == ["val_error"]
    assert choice_text(pts, best, how) == (
        "validation FPR95 ties at 0.00% among 4 of 4 points, so it does not decide; offset "
        "-2 / +2 was chosen by lower validation error (9.47% vs 9.60%-9.82%)"
    )
    # AUROC breaks a tie before the validation error does
    pts = [_pt(0, 0.05, 0.09, 0.97), _pt(2, 0.05, 0.08, 0.98), _pt(4, 0.07, 0.05, 0.99)]
    best, how = choose(pts)
    assert best == 1 and how["tied"] == [0, 1] and how["broken_by"] == ["val_auroc"]
    text = choice_text(pts, best, how)
    assert "ties at 5.00% among 2 of 3 points" in text
    assert text.endswith("offset -2 / +2 was chosen by higher validation AUROC (98.00% vs 97.00%)")
    # nothing separates them: the earlier offset, and the sentence says so
    pts = [_pt(0, 0.1, 0.2, 0.9), _pt(2, 0.1, 0.2, 0.9)]
    best, how = choose(pts)
    assert best == 0 and how["broken_by"] == ["order"]
    assert "no figure separates the rest, so the earliest offset" in choice_text(pts, best, how)


def test_results_without_the_choice_record_get_it_recomputed():
    pts = [_pt(0, 0.0, 0.0960), _pt(2, 0.0, 0.0947)]  # val_auroc None: written before it
    sweep = MarginSweep(0, {"m_in": -5, "m_out": -3, "margin": 2, "rule": "r"}, pts, 1, "r", 10)
    assert sweep.choice_text().startswith("validation FPR95 ties at 0.00% among 2 of 2")
    plain = {**sweep.__dict__, "points": [p.__dict__ for p in pts]}
    assert MarginSweep.from_plain(plain).choice_text() == sweep.choice_text()


def test_departures_say_how_the_offset_was_chosen():
    from energy_ood.bench.ood.results import OODResults

    cfg = load_config("fmnist")
    pts = [_pt(0, 0.0, 0.0960), _pt(2, 0.0, 0.0947)]
    best, how = choose(pts)
    sweep = MarginSweep(0, {"m_in": -5, "m_out": -3, "margin": 2, "rule": "r"}, pts, best, "r",
                        10, ["lxqt-photos"], how)  # fmt: skip
    res = OODResults("t", {}, {"id_dataset": "fashion-mnist", "n_train": 1, "n_val": 1,
                               "n_test": 1}, [0], [], [], [], {}, ["cifar10-train-grey"], {},
                     {}, [], margin_sweep=sweep)  # fmt: skip
    res.sources = {"cifar10-train-grey": {"family": "cifar10"}}
    res.run = {"config": cfg.to_dict()}
    row = dict((r[0], r[2]) for r in departures(res))["margins"]
    assert "against lxqt-photos outliers" in row and "ties at 0.00% among 2 of 2" in row
    assert "lower validation error" in row and "chosen on validation FPR95" not in row


@pytest.mark.parametrize(
    "override,message",
    [
        ("data.margin_val=['cifar10-grey']", "family of the ID data|family of auxiliary source"),
        ("data.margin_val=['scenes']", "family of OOD test set 'scenes'"),
        ("data.margin_val=['mate-nature']", "family of OOD test set 'mate-nature'"),
        ("data.margin_val=[]", "sweeps.margins: needs data.margin_val"),
    ],
)
def test_margin_validation_family_is_its_own(override, message):
    with pytest.raises(InputError, match=message):
        load_config("fmnist", parse_overrides([override]))
    cfg = load_config("fmnist")
    assert cfg.data.margin_val == ["lxqt-photos"]


def test_margin_validation_of_the_aux_family_refused():
    over = parse_overrides(["data.aux=['textures-aux']", "data.margin_val=['scenes-aux']",
                            "data.ood_sets=['mnist']"])  # fmt: skip
    with pytest.raises(InputError, match="family of auxiliary source 'textures-aux'"):
        load_config("fmnist", over)
