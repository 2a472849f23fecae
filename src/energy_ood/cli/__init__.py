"""The ``energy-ood`` command line. Nothing below this package imports it."""
