"""Data: readers (IDX, image folders/tars, .npz), named data sets, OOD sets, transforms, splits."""

from . import transforms
from .arrays import read_npz
from .datasets import ArrayDataset, available_datasets, load_dataset
from .idx import read_idx
from .images import read_image_folder, read_image_tar
from .ood_sets import load_ood_set, ood_sources
from .sources import ood_set_names
from .splits import AuxiliaryPool, holdout_class_split, validation_split

__all__ = [
    "ArrayDataset",
    "AuxiliaryPool",
    "available_datasets",
    "holdout_class_split",
    "load_dataset",
    "load_ood_set",
    "ood_set_names",
    "ood_sources",
    "read_idx",
    "read_image_folder",
    "read_image_tar",
    "read_npz",
    "transforms",
    "validation_split",
]
