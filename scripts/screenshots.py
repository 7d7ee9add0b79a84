"""The README's screenshots: the Inspect, Review queue, Statistics and Models pages at 1366x768, into docs/screens/.

    .venv/bin/python scripts/screenshots.py [--out docs/screens]

Only our own generated images are shown: the synthetic strips in sample_images/ (sample_images/make_samples.py),
inspected by the shipped default set into a fresh review log in a temporary folder, some of them decided over the
last three days. Never point this at a dataset in ../shared: their licences do not let us commit crops of them.
Needs Debian's chromium and Playwright (requirements-dev.txt), like the browser tests.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.accounts.auth import Accounts  # noqa: E402
from core.contract.settings import load_settings  # noqa: E402
from core.engine.inference import Inspector  # noqa: E402
from core.review.store import Decision, ReviewLog  # noqa: E402
from tests.helpers.browser import chromium_page, streamlit_server  # noqa: E402

SAMPLES = ROOT / "sample_images" / "train_images"
USER, PASSWORD = "supervisor", "screenshots-only-1"
WIDTH, HEIGHT = 1366, 768
IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"  # Streamlit's "running" corner


def fill_log(env: dict[str, str]) -> list[Path]:
    """Inspect every sample strip with the default set, over the last three days, and decide about half of them
    (accept, a false alarm, a missed defect): the queue keeps the rest. Returns the strips left to upload."""
    os.environ.update(env)
    settings = load_settings()
    log = ReviewLog.from_settings(settings)
    inspector = Inspector.load(settings.models_dir / settings.model_set, "cpu")
    strips = sorted(SAMPLES.glob("*.jpg"))
    now = datetime.now(UTC).replace(tzinfo=None)
    for index, path in enumerate(strips[:-3]):
        at = now - timedelta(days=2, hours=6) + timedelta(hours=5 * index)
        verdict = inspector.inspect(path)
        inference = log.record_inference(verdict, path.read_bytes(), at=at)
        if index % 2:
            continue
        if index % 6 == 0:
            decision = Decision.accept(verdict)
        elif verdict.defective:
            decision = Decision.defect_free(verdict, "false alarm: rolling oil stain")
        else:
            decision = Decision.override(verdict, [verdict.class_names[0]], "missed defect: faint pits at the edge")
        log.add_review(inference, USER, decision, at=at + timedelta(minutes=20))
    log.close()
    accounts = Accounts(env["STEELSCAN_DATABASE_URL"])
    accounts.add_user(USER, PASSWORD, "admin", created_by="scripts/screenshots.py")
    accounts.close()
    return strips[-3:]


def settle(page, extra_s: float = 1.5) -> None:
    page.wait_for_function(IDLE, timeout=180_000)
    time.sleep(extra_s)  # plotly draws after Streamlit is done
    page.wait_for_function(IDLE, timeout=180_000)


def shoot(url: str, upload: list[Path], out: Path, profile: Path) -> list[Path]:
    shots = []
    with chromium_page(profile, height=HEIGHT, width=WIDTH) as page:
        page.goto(url)
        page.get_by_label("User name").fill(USER)
        page.get_by_role("textbox", name="Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Inspect").wait_for()
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files([str(p) for p in upload])
        page.get_by_role("button", name=re.compile(r"^(Accept|Override)")).first.wait_for(timeout=180_000)
        settle(page, 3)
        for name, path in (("inspect", ""), ("review-queue", "review_queue"), ("statistics", "statistics"),
                           ("models", "models")):
            if path:
                page.goto(f"{url}/{path}")
                settle(page, 3)
            page.mouse.move(0, HEIGHT - 1)  # no hover tooltip in the picture
            shots.append(out / f"{name}.png")
            page.screenshot(path=str(shots[-1]))
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screens")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="steelscan-screens-") as tmp:
        tmp = Path(tmp)
        env = {"STEELSCAN_MODELS_DIR": str(ROOT / "models"), "STEELSCAN_MODEL_SET": "severstal-synthetic",
               "STEELSCAN_DATABASE_URL": f"sqlite:///{tmp / 'review.db'}", "STEELSCAN_IMAGE_STORE": str(tmp / "img"),
               "STEELSCAN_DEVICE": "cpu", "STEELSCAN_SETTINGS": str(tmp / "none.toml"),
               "STEELSCAN_TIMEZONE": "Europe/Berlin", "STEELSCAN_SIGN_IN_FIRST_DELAY_SECONDS": "0"}
        upload = fill_log(env)
        env["STEELSCAN_MODELS_DIR"] = "models"  # the server runs in the repository: the page shows no local path
        with streamlit_server(env, tmp / "streamlit.log") as url:
            for shot in shoot(url, upload, args.out, tmp / "profile"):
                print(f"wrote {shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
