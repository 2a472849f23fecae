"""Pictures inside outlier sources that show a class of an in-distribution data set.

An auxiliary outlier must not be a picture of an ID class (a cat photo is no outlier for
CIFAR-10, which has a cat class), so these pictures are left out of a source whenever it serves
as auxiliary outliers or margin-validation outliers for that data set. The table is per ID data
set, per source, ``{reason: (fnmatch patterns on the picture's name, ...)}``: a packaged
picture's name is its path inside the package's folder, a scikit-image picture's its
``skimage.data`` name. Each reason starts with the ID class; "-like" marks a near class left out
to be safe (an antelope for deer, a bus for truck).

OOD *test* sets are fixed picture lists that do not depend on the ID data set: ``scenes`` keeps
its cat photo (chelsea: 1 of its 5 photos) as a test set for CIFAR-10, and the report's data
table says so (``bench/ood/report.py``); the newer ones (``lomiri-photos``, ...) hold no picture
of a CIFAR-10 or Fashion-MNIST class.
"""

from __future__ import annotations

import fnmatch

_TUX = "tuxpaint-stamps"
ID_CLASS_PICTURES: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "cifar10": {
        "scenes": {"cat (chelsea)": ("chelsea",)},
        _TUX: {
            "airplane": ("vehicles/flight/planes/*", "military/vehicles/f22_raptor.png"),
            "automobile": ("vehicles/auto/beetle.png", "vehicles/auto/sedan.png",
                           "vehicles/auto/sportscar*", "vehicles/emergency/sedan_police*",
                           "vehicles/race/*"),
            "bird": ("animals/birds/*", "seasonal/easter/bluebird.png", "seasonal/easter/chick*",
                     "seasonal/christmas/Roast_turkey.png"),
            "bird (Tux the penguin drives it)": ("vehicles/farming/cartoon/tux_tractor.png",),
            "cat (and the other felines)": ("animals/mammals/cats/*",
                                            "seasonal/halloween/blackcat.png"),
            "deer": ("animals/mammals/deer/*",),
            "deer-like (an antelope)": ("animals/mammals/bovines/indian_blackbuck.png",),
            "dog (and the other canids)": ("animals/mammals/dogs/*",),
            "frog": ("animals/amphibians/*",),
            "horse (and the other equines)": ("animals/mammals/equines/*",),
            "ship": ("vehicles/ship/*", "town/cartoon/shipwreck.png",
                     "town/houses/cartoon/fishery.png"),
            "truck": ("vehicles/auto/truck.png", "vehicles/construction/*",
                      "vehicles/emergency/firetruck.png", "vehicles/emergency/cartoon/*",
                      "vehicles/garbagetruck.png"),
            "truck-like (armoured vehicles, buses)": ("military/vehicles/bradley*",
                                                      "military/vehicles/infantry-stryker.png",
                                                      "vehicles/masstransit/*"),
        },
    },
    "fashion-mnist": {
        _TUX: {
            "T-shirt/top": ("clothes/t_shirt.png", "clothes/t_tshirt.png"),
            "Shirt": ("clothes/t_poloshirt.png",),
            "Coat": ("clothes/t_jacket.png",),
            "Trouser": ("clothes/t_pants.png",),
        },
    },
}  # fmt: skip
ALIASES = {"cifar-10": "cifar10", "fmnist": "fashion-mnist"}


def id_class_reason(source: str, picture: str, id_dataset: str | None) -> str | None:
    """Why ``picture`` of ``source`` is left out as an outlier for ``id_dataset``, or None."""
    if id_dataset is None:
        return None
    key = str(id_dataset).lower()
    table = ID_CLASS_PICTURES.get(ALIASES.get(key, key), {}).get(source, {})
    for reason, patterns in table.items():
        if any(fnmatch.fnmatchcase(picture, p) for p in patterns):
            return reason
    return None


def split_id_class_pictures(source: str, named: list, id_dataset: str | None) -> tuple:
    """``(kept, left_out)`` of ``[(name, picture), ...]``: the pictures that show no class of
    ``id_dataset``, and ``{name: reason}`` of those that do."""
    kept, left_out = [], {}
    for name, pic in named:
        reason = id_class_reason(source, name, id_dataset)
        if reason is None:
            kept.append((name, pic))
        else:
            left_out[name] = reason
    return kept, left_out


def id_class_table(id_dataset: str) -> dict[str, dict[str, tuple[str, ...]]]:
    """``{source: {reason: patterns}}`` of one ID data set (empty when none is listed)."""
    key = str(id_dataset).lower()
    return ID_CLASS_PICTURES.get(ALIASES.get(key, key), {})
