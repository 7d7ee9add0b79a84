"""A folder per class with a mask PNG beside each image, as labelling by hand often leaves it:

    MT_Crack/Imgs/exp1_num_4.jpg + exp1_num_4.png      (the magnetic-tile layout; Imgs/ is optional)
    MT_Free/Imgs/...                                   a folder named free/clean/ok/good/normal: clean

The folder names the class (a prefix all folders share, like `MT_`, is dropped). The mask is
binary (0/255 grey, thresholded at 128 so anti-aliased edges split half-way) or an indexed PNG
(non-zero = defect). An image in a defect folder without a mask, or with an empty mask, is a
problem (file and fix) and left out: it is never taken as clean.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.contract.errors import DatasetError
from core.datasets.base import Dataset, Sample, binary_mask
from core.imaging.imageio import is_image_path

CLEAN_WORDS = ("free", "clean", "ok", "good", "normal", "defect-free", "defect_free", "no_defect", "nodefect")


def image_folder(class_dir: Path) -> Path:
    return class_dir / "Imgs" if (class_dir / "Imgs").is_dir() else class_dir


def mask_for(image_path: Path) -> Path | None:
    """The mask beside an image: same stem, .png, and not the image itself."""
    for candidate in (image_path.with_suffix(".png"), image_path.with_name(f"{image_path.stem}_mask.png")):
        if candidate.is_file() and candidate != image_path:
            return candidate
    return None


def images_in(folder: Path) -> list[Path]:
    """Images, not masks: a .png that is another file's mask is left out."""
    files = sorted(p for p in folder.iterdir() if is_image_path(p))
    stems_with_other = {p.stem for p in files if p.suffix.lower() != ".png"}
    return [p for p in files if not (p.suffix.lower() == ".png" and
                                     (p.stem in stems_with_other or p.stem.endswith("_mask")))]


def looks_like_class_folders(root: Path) -> bool:
    subdirs = [p for p in root.iterdir() if p.is_dir()]
    if len(subdirs) < 2:
        return False
    for class_dir in subdirs:
        folder = image_folder(class_dir)
        images = [p for p in folder.iterdir() if is_image_path(p) and p.suffix.lower() != ".png"][:5]
        if any(mask_for(p) for p in images):
            return True
    return False


def class_name(folder_name: str, prefix: str) -> str:
    return folder_name[len(prefix):] if prefix and folder_name.startswith(prefix) else folder_name


def shared_prefix(names: list[str]) -> str:
    prefix = os.path.commonprefix(names)
    return prefix[: prefix.rfind("_") + 1] if "_" in prefix else ""


def read_class_folders(root: str | Path) -> Dataset:
    root = Path(root)
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise DatasetError(root, "has fewer than two class folders", "one folder per class, e.g. crack/ and free/")
    prefix = shared_prefix([p.name for p in class_dirs])
    clean_dirs = [p for p in class_dirs if class_name(p.name, prefix).lower() in CLEAN_WORDS]
    defect_dirs = [p for p in class_dirs if p not in clean_dirs]
    class_names = tuple(class_name(p.name, prefix) for p in defect_dirs)
    samples, problems = [], []
    for class_dir in clean_dirs:
        for image_path in images_in(image_folder(class_dir)):
            mask_path = mask_for(image_path)
            if mask_path is not None and binary_mask(mask_path).any():
                problems.append(f"{mask_path}: marks defect pixels but the image is in the clean folder "
                                f"{class_dir.name}/; move it to its class folder or clear the mask")
                continue
            samples.append(Sample(image_path=image_path, labels=()))
    for index, class_dir in enumerate(defect_dirs):
        for image_path in images_in(image_folder(class_dir)):
            mask_path = mask_for(image_path)
            if mask_path is None:
                problems.append(f"{image_path}: has no mask {image_path.with_suffix('.png').name} beside it; "
                                "draw one (defect pixels white) or move the image out")
                continue
            try:
                empty = not binary_mask(mask_path).any()
            except OSError as exc:
                problems.append(f"{mask_path}: cannot be read ({exc}); re-save the mask")
                continue
            if empty:
                problems.append(f"{mask_path}: is empty but the image is in {class_dir.name}/; draw the defect "
                                "(white on black) or move the image to the clean folder")
                continue
            samples.append(Sample(image_path=image_path, labels=(index,), mask_path=mask_path, mask_class=index))
    task = "multi-label" if clean_dirs else "single-label"
    return Dataset(root.name, root, "class-folders", class_names, task, tuple(samples), tuple(problems))
