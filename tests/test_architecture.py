"""Layers enforced: import-linter's contracts (pyproject.toml), the thin pages, and a router that loads no torch."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE_MAY_NOT_IMPORT = ("torch", "torchvision", "cv2", "sqlalchemy", "sqlite3", "psycopg", "segmentation_models_pytorch")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module or "")
    return names


def test_import_linter_contracts_are_kept():
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_pages_are_thin_and_reach_the_engine_only_through_ui_and_core():
    pages = sorted((ROOT / "app_pages").glob("*.py"))
    assert len(pages) >= 5
    for page in pages:
        top = {name.split(".")[0] for name in imported_modules(page)}
        assert not top & set(PAGE_MAY_NOT_IMPORT), f"{page.name} imports {top & set(PAGE_MAY_NOT_IMPORT)}"
        assert len(page.read_text().splitlines()) <= 200, f"{page.name} is not thin"


def test_the_router_and_the_sign_in_screen_load_no_torch():
    probe = ("import sys, app, ui.auth, ui.state\n"
             "print(sorted(m for m in ('torch', 'cv2', 'segmentation_models_pytorch', 'sklearn') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
