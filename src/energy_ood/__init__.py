"""energy-ood: out-of-distribution detection built around the free-energy score."""

__version__ = "0.1.0"
