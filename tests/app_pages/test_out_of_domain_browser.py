"""Issue 37 item 2 in a real browser (Debian Chromium, 1366x768): an out-of-domain sheet cannot be accepted with one
key. The first A turns the primary button into a confirmation; only the second A records the accept."""

from __future__ import annotations

import io
import os
import re

import numpy as np
import pytest
from PIL import Image

from core.accounts.auth import Accounts
from core.contract.settings import load_settings
from core.review.store import ReviewLog
from tests.app_pages.test_app_domain import fitted_models_dir  # noqa: F401  (fixture: a set with a fitted domain)
from tests.app_pages.test_shift_browser import SETTINGS, WAIT_MS, idle, sign_in, upload
from tests.helpers.browser import chromium_page, streamlit_server
from tests.helpers.dashboard import PASSWORD, dashboard_env, models_dir  # noqa: F401  (fixtures)

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dashboard_env")]


def test_an_out_of_domain_sheet_needs_a_second_key_to_accept(tmp_path, fitted_models_dir):  # noqa: F811
    settings = {key: os.environ[key] for key in SETTINGS}
    settings |= {"STEELSCAN_MODELS_DIR": str(fitted_models_dir), "STEELSCAN_SIGN_IN_FIRST_DELAY_SECONDS": "0"}
    accounts = Accounts(settings["STEELSCAN_DATABASE_URL"])
    accounts.add_user("ivan", PASSWORD, "inspector", created_by="test")
    accounts.close()
    noise = tmp_path / "noise.png"  # sensor noise: nothing like the set's strip crops
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (64, 256, 3), dtype=np.uint8)).save(buffer, "PNG")
    noise.write_bytes(buffer.getvalue())
    with streamlit_server(settings, tmp_path / "streamlit.log") as url, \
            chromium_page(tmp_path / "ivan", height=768, width=1366) as page:
        sign_in(page, url, "ivan")
        upload(page, [noise])
        check = page.get_by_role("button", name=re.compile(r"Out of domain: check"))
        check.wait_for(timeout=4 * WAIT_MS)
        idle(page)
        assert page.get_by_role("button", name=re.compile(r"^Accept")).count() == 0
        page.keyboard.press("a")  # one key: asks for the check, records nothing
        page.get_by_role("button", name=re.compile(r"Confirm accept")).wait_for(timeout=WAIT_MS)
        page.get_by_text(re.compile(r"Press A again to accept")).wait_for(timeout=WAIT_MS)
        idle(page)
        log = ReviewLog.from_settings(load_settings())
        assert log.reviews_frame().empty, "one key accepted an out-of-domain sheet"
        page.keyboard.press("a")  # the second key confirms
        page.get_by_text(re.compile(r"1 sheets · 1 decided")).first.wait_for(timeout=WAIT_MS)
        reviews = log.reviews_frame()
        assert reviews["image_name"].tolist() == ["noise.png"] and reviews["decision"].tolist() == ["accept"]
