"""The picture sources that ship in Debian packages: where each package puts its files, how to
install it, and which of its files are pictures of the source (read by :mod:`.packaged`).

A package whose folder is shared with other packages (``/usr/share/backgrounds``) names its
files in ``only``; ``skip`` leaves out near-copies (glyphs, mirrored stamps) and other packages'
files. What each source shows, and its licence, is in :data:`.ood_sets.SOURCES`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True)
class Package:
    """Where a packaged picture source lives and what may be read from it."""

    folder: str  # name under a data root
    system: str  # the package's install path
    install: str  # how to get it
    extensions: tuple[str, ...]
    exclude_dirs: tuple[str, ...] = ()
    only: tuple[str, ...] = ()  # fnmatch patterns on the path inside the folder (empty: all)
    skip: tuple[str, ...] = ()  # fnmatch patterns left out (glyphs, mirrored copies, ...)

    def wants(self, rel: str) -> bool:
        """Whether the file at ``rel`` (posix path inside the folder) is one of its pictures."""

        def match(patterns) -> bool:
            return any(fnmatch.fnmatchcase(rel, p) for p in patterns)

        return (not self.only or match(self.only)) and not match(self.skip)


_LOMIRI = (  # Ubuntu Touch 16.04 wallpapers; friends (dogs), free (a bird) and umang (a rendered
    # gradient) are left out: a photo set with no CIFAR-10 class in it
    "Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "Picture_0B_by_freespace.jpg",
    "Picture_1A_by_freespace.jpg", "Wine_by_Jakkub_Mede.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg",
    "analogpattern_by_Peter_Nerlich.jpg", "greentock_by_Peter_Nerlich.jpg",
    "life_by_Aitzol_Berasategi.jpg", "picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "seeding_by_Clements_Engelhardt.jpg", "sunset_by_Aitzol_Berasategi.jpg",
)  # fmt: skip
_LXQT = (  # the photographs among LXQt's wallpapers (the rendered logos and shapes left out)
    "Butterfly-Kenneth-Wimer.jpg", "Valendas.png", "after-the-rain.jpg", "appleflower.png",
    "beam.png", "butterfly.png", "cloud.png", "drop.png", "flowers.png", "fog.jpg",
    "this-is-not-windows.jpg",
)  # fmt: skip
_UKUI = (
    "2004default.jpg", "calla.png", "city.png", "desert.png", "firstgeneration.jpg",
    "fluent-color.png", "focal-ubuntukylin.png", "goldfish.png", "rhythm.jpg", "rollpaper.png",
    "string.jpg", "the-mouse.jpg",
)  # fmt: skip

PACKAGES = {
    "mate-nature": Package(
        "mate-nature",
        "/usr/share/backgrounds/mate/nature",
        "apt-get install mate-backgrounds",
        (".jpg", ".jpeg", ".png"),
    ),
    "gimp-textures": Package(
        "gimp-patterns",
        "/usr/share/gimp/2.0/patterns",
        "apt-get install gimp-data",
        (".pat",),
        exclude_dirs=("Legacy",),  # drawn geometric patterns, not photographed surfaces
    ),
    "lomiri-photos": Package(
        "lomiri-wallpapers",
        "/usr/share/backgrounds",
        "apt-get install lomiri-wallpapers-16.04",
        (".jpg",),
        only=_LOMIRI,
    ),
    "lxqt-photos": Package(
        "lxqt-wallpapers",
        "/usr/share/lxqt/wallpapers",
        "apt-get install lxqt-themes",
        (".jpg", ".png"),
        only=_LXQT,
    ),
    "tuxtype-space": Package(
        "tuxtype-backgrounds",
        "/usr/share/tuxtype/images/backgrounds",
        "apt-get install tuxtype-data",
        (".jpg",),
    ),
    "tuxpaint-stamps": Package(
        "tuxpaint-stamps",
        "/usr/share/tuxpaint/stamps",
        "apt-get install tuxpaint-stamps-default",
        (".png",),
        # alphabet glyphs (filled / outlined copies of one letter), mirrored copies of a stamp,
        # and tuxpaint-data's Tux stamps (another package) are left out
        skip=("symbols/alphabets/*", "*_mirror.png", "cartoon/tux/*"),
    ),
    "ukui-wallpapers": Package(
        "ukui-wallpapers",
        "/usr/share/backgrounds",
        "apt-get install ukui-wallpapers",
        (".jpg", ".png"),
        only=_UKUI,
    ),
    "mypaint-paper": Package(
        "mypaint-backgrounds",
        "/usr/share/mypaint/backgrounds",
        "apt-get install mypaint-data-extras",
        (".png",),
        only=("mrmamurk/*", "ramon/*"),  # mypaint-data-extras' folders, not mypaint-data's
    ),
}
