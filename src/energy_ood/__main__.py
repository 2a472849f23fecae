"""``python -m energy_ood ...`` and ``torchrun --nproc_per_node N -m energy_ood ...``."""

import sys

from .cli.main import main

sys.exit(main())
