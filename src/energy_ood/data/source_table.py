"""Every named OOD test set and outlier source, with its family, kind, content, origin and
licence (rendered by :func:`energy_ood.data.sources.data_table`), and the families of the
in-distribution data sets. What a family is: :mod:`energy_ood.data.ood_sets`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """One OOD test set or outlier source: its family, kind, origin and licence."""

    family: str
    kind: str  # "natural" (real images: photos, textures, handwriting) or "noise" (synthetic)
    content: str
    origin: str
    licence: str


_SKI = ("scikit-image", "natural", "PyPI scikit-image (skimage.data)", "CC0 / public domain")


SOURCES: dict[str, Source] = {
    "mnist": Source("mnist", "natural", "MNIST test digits (10,000)",
                    "yann.lecun.com / --data-root", "CC BY-SA 3.0"),
    "cifar10-grey": Source("cifar10", "natural", "CIFAR-10 test photos, grey (10,000)",
                           "cs.toronto.edu / --data-root (JPEG copy)", "no licence stated"),
    "cifar10-train-grey": Source("cifar10", "natural", "CIFAR-10 train photos, grey (50,000)",
                                 "cs.toronto.edu / --data-root (JPEG copy)", "no licence stated"),
    "scenes": Source(_SKI[0], _SKI[1], "crops of 5 photos (astronaut, camera, cat, coffee, "
                     "rocket)", _SKI[2], _SKI[3]),
    "scenes-aux": Source(_SKI[0], _SKI[1], "crops of 7 other pictures (motorcycle pair, clock, "
                         "coins, Hubble deep field, page, text)", _SKI[2], _SKI[3]),
    "textures": Source(_SKI[0], _SKI[1], "crops of 3 texture photos (brick, grass, gravel)",
                       _SKI[2], _SKI[3]),
    "textures-aux": Source(_SKI[0], _SKI[1], "crops of moon, immunohistochemistry, cell",
                           _SKI[2], _SKI[3]),
    "mate-nature": Source("mate-backgrounds", "natural", "crops of 12 nature photographs "
                          "(flowers, dune, storm, wood, rain drops, ...)",
                          "Debian mate-backgrounds (/usr/share/backgrounds/mate/nature)",
                          "GPL-2+"),
    "gimp-textures": Source("gimp-data", "natural", "crops of 43 photographed surface patterns "
                            "(bark, leather, marble, sky, water, ...; 'Legacy' drawings left out)",
                            "Debian gimp-data (/usr/share/gimp/2.0/patterns)",
                            "GPL-3+ (package's Files: * stanza)"),
    "sklearn-photos": Source("scikit-learn-images", "natural", "crops of 2 photos (china "
                             "temple, flower)", "PyPI scikit-learn (load_sample_images)",
                             "CC BY 2.0"),
    "lomiri-photos": Source("lomiri-wallpapers", "natural", "crops of 12 photographs "
                            "(mountains, a river, a sunset, dandelions, brushes, a fig, wine, "
                            "a dragonfly, ...; two with dogs or a bird and one rendered "
                            "gradient left out)", "Debian lomiri-wallpapers-16.04 "
                            "(/usr/share/backgrounds)", "CC BY 4.0, CC BY-SA 4.0, CC0 1.0 "
                            "(per file)"),
    "lxqt-photos": Source("lxqt-themes", "natural", "crops of 11 nature photographs (clouds, "
                          "mountains, fog, a meadow, butterflies, blossoms, a water drop; the "
                          "rendered wallpapers left out)", "Debian lxqt-themes "
                          "(/usr/share/lxqt/wallpapers)", "CC BY-SA 3.0 (wallpapers/License)"),
    "tuxtype-space": Source("tuxtype-data", "natural", "crops of 5 space photographs (a "
                            "barred spiral galaxy, the Helix nebula, the Sombrero galaxy, "
                            "Saturn, a sunset on Mars)", "Debian tuxtype-data "
                            "(/usr/share/tuxtype/images/backgrounds)", "GPL-2 (package)"),
    "tuxpaint-stamps": Source("tuxpaint", "natural", "crops of 626 stamps: photos and "
                              "drawings of animals, plants, food, tools, buildings, signs, "
                              "coins (cut out, on white; alphabet glyphs and mirrored copies "
                              "left out)", "Debian tuxpaint-stamps-default "
                              "(/usr/share/tuxpaint/stamps)", "GPL-2"),
    "ukui-wallpapers": Source("ukui-wallpapers", "natural", "crops of 12 rendered wallpapers "
                              "(abstract shapes and gradients, a goldfish, a mouse)",
                              "Debian ukui-wallpapers (/usr/share/backgrounds)", "CC BY-SA 3.0"),
    "mypaint-paper": Source("mypaint", "natural", "crops of 17 scanned paper and canvas "
                            "textures", "Debian mypaint-data-extras "
                            "(/usr/share/mypaint/backgrounds)", "CC0 1.0"),
    "gaussian": Source("pixel-noise", "noise", "N(0.5, 0.25^2) per pixel, clipped", "generated",
                       "-"),
    "uniform": Source("pixel-noise", "noise", "U(0, 1) per pixel", "generated", "-"),
    "rademacher": Source("pixel-noise", "noise", "0 or 1 per pixel", "generated", "-"),
}  # fmt: skip


ID_FAMILIES = {  # in-distribution data sets (load_dataset names) and their families
    "fashion-mnist": "fashion-mnist",
    "mnist": "mnist",
    "cifar10": "cifar10",
    "digits": "sklearn-digits",
}
