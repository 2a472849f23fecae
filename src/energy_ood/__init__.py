"""energy-ood: out-of-distribution detection built around the free-energy score.

``set_progress(False)`` silences every progress bar and status line (off by default when
``CI=true``). Importing the package also hooks ``energy_ood._tvcompat`` in, so that a
torchvision whose compiled ops do not match the installed torch still imports.
"""

__version__ = "0.1.0"

from ._tvcompat import install_hook as _install_tv_hook  # noqa: E402
from .runtime.progress import progress_enabled, set_progress  # noqa: E402

_install_tv_hook()

__all__ = ["__version__", "progress_enabled", "set_progress"]
