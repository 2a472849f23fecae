"""What the ``detect`` command does, for Python too: fit a detector on arrays or with a model
and its in-distribution data (``fit``), and flag new inputs with a saved one (``predict``).
The detector itself is :class:`energy_ood.score.Detector`; its artifact export is
:mod:`energy_ood.score.export`."""
