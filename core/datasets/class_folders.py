"""A folder per class, as images are sorted by hand and exported for classification:

    MT_Crack/Imgs/exp1_num_4.jpg + exp1_num_4.png    a mask PNG beside each image: "class-folders"
                                                     (the magnetic-tile layout; Imgs/ is optional)
    crack/001.jpg  scratch/002.jpg                   images only: "image-folders" (torchvision ImageFolder,
                                                     Keras image_dataset_from_directory, NEU-CLS)
    train/crack/...  valid/crack/...  test/...       either kind, split by its exporter (Roboflow): kept
                                                     as the dataset's own train/val/test split
    MT_Free/  ok/  good/ ...                         a folder named free/clean/ok/good/normal: clean images

The folder names the class as written (a prefix all folders share, like `MT_`, is dropped). Classes
are numbered in sorted folder-name order, as torchvision and Keras number them, over the union of the
splits. A clean folder makes the task multi-label (clean = no class); without one every image is
exactly one class (single-label).

The mask is binary (0/255 grey, thresholded at 128 so anti-aliased edges split half-way) or an indexed
PNG (non-zero = defect). An image in a defect folder without a mask, or with an empty mask, is a
problem (file and fix) and left out: it is never taken as clean.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from core.contract.errors import DatasetError
from core.datasets.base import Dataset, Sample, binary_mask
from core.imaging.imageio import is_image_path

CLEAN_WORDS = ("free", "clean", "ok", "good", "normal", "defect-free", "defect_free", "no_defect", "nodefect")
SPLIT_WORDS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
SPLIT_ORDER = {"": 0, "train": 0, "val": 1, "test": 2}
# images/ beside one of these is another layout that lacks its index file (classes.txt, data.yaml),
# not two classes named "images" and "masks".
OTHER_LAYOUT_FOLDERS = {"masks", "labels", "annotations"}
MASK_PROBE = 5  # images per class folder looked at for a mask beside them when telling the variants apart


def is_hidden(path: Path) -> bool:
    # Copies from macOS leave .DS_Store, ._name.jpg resource forks and __MACOSX/ in zipped folders.
    return path.name.startswith(".") or path.name == "__MACOSX"


def subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not is_hidden(p))


def image_folder(class_dir: Path) -> Path:
    return class_dir / "Imgs" if (class_dir / "Imgs").is_dir() else class_dir


def mask_for(image_path: Path) -> Path | None:
    """The mask beside an image: same stem, .png, and not the image itself."""
    for candidate in (image_path.with_suffix(".png"), image_path.with_name(f"{image_path.stem}_mask.png")):
        if candidate.is_file() and candidate != image_path:
            return candidate
    return None


def images_in(folder: Path) -> list[Path]:
    """Images directly in the folder (not deeper), not masks: a .png that is another file's mask is left out."""
    files = sorted(p for p in folder.iterdir() if is_image_path(p) and not is_hidden(p) and p.is_file())
    stems_with_other = {p.stem for p in files if p.suffix.lower() != ".png"}
    return [p for p in files if not (p.suffix.lower() == ".png" and
                                     (p.stem in stems_with_other or p.stem.endswith("_mask")))]


def split_folders(root: Path) -> list[tuple[str, Path]]:
    """(split, folder of class folders): the root's train/ val/ valid/ validation/ test/ folders that
    hold folders, else the root itself with no split."""
    splits = [(SPLIT_WORDS[p.name.lower()], p) for p in subfolders(root)
              if p.name.lower() in SPLIT_WORDS and subfolders(p)]
    return splits or [("", root)]


def class_dirs(root: Path) -> list[tuple[str, Path]]:
    """(split, class folder) for every class folder of every split."""
    return [(split, class_dir) for split, folder in split_folders(root) for class_dir in subfolders(folder)]


def class_folder_layout(root: Path) -> str:
    """"class-folders" when masks lie beside the images, "image-folders" when at least two class
    folders hold images and none of the first few has a mask, else "" (another layout or none)."""
    dirs = class_dirs(root)
    names = {class_dir.name for _, class_dir in dirs}
    if len(names) < 2 or ("images" in names and names & OTHER_LAYOUT_FOLDERS):
        return ""
    with_images = set()
    for _, class_dir in dirs:
        images = images_in(image_folder(class_dir))[:MASK_PROBE]
        if any(mask_for(p) for p in images):
            return "class-folders"
        if images:
            with_images.add(class_dir.name)
    # Two, so that a lone images/ (or any single folder) is not read as a one-class dataset.
    return "image-folders" if len(with_images) >= 2 else ""


def class_name(folder_name: str, prefix: str) -> str:
    return folder_name[len(prefix):] if prefix and folder_name.startswith(prefix) else folder_name


def shared_prefix(names: list[str]) -> str:
    prefix = os.path.commonprefix(names)
    return prefix[: prefix.rfind("_") + 1] if "_" in prefix else ""


class ClassFolder(NamedTuple):
    split: str  # "" when the dataset has no split folders
    path: Path
    index: int | None  # the class; None for a clean folder


def sort_class_folders(root: Path) -> tuple[tuple[str, ...], list[ClassFolder], list[str]]:
    """Class names, every class folder (split by split, clean folders first, then by class), and a
    problem line for each folder left out."""
    splits, dirs = split_folders(root), class_dirs(root)
    names = sorted({class_dir.name for _, class_dir in dirs})
    if len(names) < 2:
        raise DatasetError(root, f"has {len(names)} class folder(s); two or more are needed",
                           "put a folder per class of images in it, e.g. crack/ and ok/ "
                           "(optionally under train/ val/ test/)")
    prefix = shared_prefix(names)
    defect_names = [name for name in names if class_name(name, prefix).lower() not in CLEAN_WORDS]
    if not defect_names:
        raise DatasetError(root, "holds only clean folders", "add a folder per defect class beside them")
    index = {name: i for i, name in enumerate(defect_names)}
    folders = [ClassFolder(split, class_dir, index.get(class_dir.name)) for split, class_dir in dirs]
    # Clean folders first, then by class: the order the reader had before it knew splits.
    folders.sort(key=lambda f: (SPLIT_ORDER[f.split], f.index is not None, f.index or 0))
    split_paths = {folder for _, folder in splits}
    problems = [f"{p}/: sits beside the split folders and is not read; move its class folders into train/, "
                "val/ or test/" for p in subfolders(root) if splits[0][0] and p not in split_paths]
    return tuple(class_name(name, prefix) for name in defect_names), folders, problems


def folder_images(class_dir: Path, problems: list[str]) -> list[Path]:
    images = images_in(image_folder(class_dir))
    if not images:
        problems.append(f"{class_dir}/: holds no images directly in it (deeper folders are not read); "
                        f"add images of {class_dir.name} or remove the folder")
    return images


def task_of(folders: list[ClassFolder]) -> str:
    return "multi-label" if any(folder.index is None for folder in folders) else "single-label"


def read_image_folders(root: str | Path) -> Dataset:
    """Images only: each image is its folder's class (none in a clean folder)."""
    root = Path(root)
    class_names, folders, problems = sort_class_folders(root)
    samples = []
    for split, class_dir, index in folders:
        labels = () if index is None else (index,)
        samples += [Sample(image_path=p, labels=labels, split=split) for p in folder_images(class_dir, problems)]
    return Dataset(root.name, root, "image-folders", class_names, task_of(folders), tuple(samples), tuple(problems))


def read_class_folders(root: str | Path) -> Dataset:
    """A mask PNG beside each image: the image's class is its folder's, the mask says where."""
    root = Path(root)
    class_names, folders, problems = sort_class_folders(root)
    samples = []
    for split, class_dir, index in folders:
        for image_path in folder_images(class_dir, problems):
            sample = (clean_sample(image_path, class_dir, problems) if index is None
                      else defect_sample(image_path, class_dir, index, problems))
            if sample is not None:
                samples.append(replace(sample, split=split))
    return Dataset(root.name, root, "class-folders", class_names, task_of(folders), tuple(samples), tuple(problems))


def clean_sample(image_path: Path, class_dir: Path, problems: list[str]) -> Sample | None:
    mask_path = mask_for(image_path)
    if mask_path is not None and binary_mask(mask_path).any():
        problems.append(f"{mask_path}: marks defect pixels but the image is in the clean folder "
                        f"{class_dir.name}/; move it to its class folder or clear the mask")
        return None
    return Sample(image_path=image_path, labels=())


def defect_sample(image_path: Path, class_dir: Path, index: int, problems: list[str]) -> Sample | None:
    mask_path = mask_for(image_path)
    if mask_path is None:
        problems.append(f"{image_path}: has no mask {image_path.with_suffix('.png').name} beside it; "
                        "draw one (defect pixels white) or move the image out")
        return None
    try:
        empty = not binary_mask(mask_path).any()
    except OSError as exc:
        problems.append(f"{mask_path}: cannot be read ({exc}); re-save the mask")
        return None
    if empty:
        problems.append(f"{mask_path}: is empty but the image is in {class_dir.name}/; draw the defect "
                        "(white on black) or move the image to the clean folder")
        return None
    return Sample(image_path=image_path, labels=(index,), mask_path=mask_path, mask_class=index)
