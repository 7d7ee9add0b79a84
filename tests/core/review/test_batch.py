"""Folder mode's confinement: only folders inside image_roots, checked after symlinks; walks bounded."""

from __future__ import annotations

import os

import pytest

from core.review.batch import FolderError, confine, folder_images, subfolders
from tests.helpers.dashboard import noise_png


@pytest.fixture
def tree(tmp_path):
    root, outside = tmp_path / "images", tmp_path / "private"
    (root / "line3").mkdir(parents=True)
    outside.mkdir()
    (root / "line3" / "a.png").write_bytes(noise_png(1))
    (root / "b.png").write_bytes(noise_png(2))
    (outside / "secret.png").write_bytes(noise_png(3))
    (root / "notes.txt").write_text("not an image")
    return root, outside


def test_only_folders_inside_the_roots_are_read(tree):
    root, outside = tree
    listing = folder_images(root, [root])
    assert {p.name for p in listing.files} == {"a.png", "b.png"}  # not notes.txt, nothing from private/
    assert all(p.is_relative_to(root.resolve()) for p in listing.files) and listing.stopped == ""
    assert [p.name for p in folder_images(root / "line3", [root]).files] == ["a.png"]
    for escape in (outside, root / ".." / "private", "/", "/etc"):
        with pytest.raises(FolderError, match="is outside the configured image folders"):
            folder_images(escape, [root])


def test_symlinks_cannot_lead_out_of_a_root(tree):
    root, outside = tree
    (root / "link-dir").symlink_to(outside, target_is_directory=True)
    (root / "line3" / "link.png").symlink_to(outside / "secret.png")
    with pytest.raises(FolderError, match="is outside"):  # resolved first: the link's target is outside
        folder_images(root / "link-dir", [root])
    names = {p.name for p in folder_images(root, [root]).files}
    assert names == {"a.png", "b.png"}  # neither the linked folder nor the linked file was read
    assert "link-dir" not in [p.name for p in subfolders(root)]


def test_no_roots_means_folder_mode_is_off(tree):
    root, _ = tree
    with pytest.raises(FolderError, match="image_roots: is empty, so Folder mode is off"):
        confine(root, [])


def test_walks_stop_at_the_file_and_time_limits_and_say_so(tree):
    root, _ = tree
    many = root / "many"
    many.mkdir()
    for i in range(30):
        os.link(root / "b.png", many / f"copy_{i:02d}.png")
    listing = folder_images(root, [root], max_files=10)
    assert len(listing.files) == 10 and "stopped after 10 images (folder_max_files)" in listing.stopped
    for i in range(400):
        (many / f"deep_{i}").mkdir()
    slow = folder_images(root, [root], max_seconds=1e-9)
    assert "folder_max_seconds" in slow.stopped and len(slow.files) < 31
