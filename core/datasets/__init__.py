"""Datasets in the layouts plants and public benchmarks use, read into one `Dataset` shape."""

from core.datasets.base import Dataset, Sample
from core.datasets.class_folders import read_class_folders
from core.datasets.coco import read_coco
from core.datasets.detect import open_dataset
from core.datasets.folder import read_mask_folder
from core.datasets.neu import read_neu_det
from core.datasets.severstal import read_severstal, read_severstal_csv, write_severstal_csv
from core.datasets.yolo import read_yolo

__all__ = [
    "Dataset",
    "Sample",
    "open_dataset",
    "read_class_folders",
    "read_coco",
    "read_yolo",
    "read_mask_folder",
    "read_neu_det",
    "read_severstal",
    "read_severstal_csv",
    "write_severstal_csv",
]
