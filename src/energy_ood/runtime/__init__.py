"""Where and how code runs: devices and mixed precision (``device``), CPU threads
(``threads``), torchrun's processes (``dist``), progress bars and status lines (``progress``),
environment variables (``env``), seeding (``seeds``) and what a run records about itself
(``provenance``). Importing this package imports nothing heavy (``energy_ood`` imports
``progress`` at start)."""
