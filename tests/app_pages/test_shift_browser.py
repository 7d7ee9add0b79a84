"""An inspector's shift in a real browser (headless Chromium, `streamlit run app.py`, the tiny test model set):
20 sheets decided by keyboard alone (accept, defect-free, class override with a quick reason, skip), a reload in
the middle that keeps the user signed in and the batch, and a colleague's decision on the same sheet in a second
browser that is detected, not overwritten."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from core.accounts.auth import Accounts
from core.contract.settings import load_settings
from core.review.store import ReviewLog
from tests.helpers.browser import another_page, chromium_page, streamlit_server
from tests.helpers.dashboard import PASSWORD, dashboard_env, models_dir, strip_png  # noqa: F401  (fixtures)

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dashboard_env")]
SETTINGS = ("STEELSCAN_MODELS_DIR", "STEELSCAN_MODEL_SET", "STEELSCAN_DATABASE_URL", "STEELSCAN_IMAGE_STORE",
            "STEELSCAN_DEVICE", "STEELSCAN_SETTINGS")
SHEETS = 21  # 20 decided by keyboard, the last one decided by a colleague first
WAIT_MS = 60_000


def sign_in(page, url: str, user: str) -> None:
    page.goto(url)
    page.get_by_label("User name").fill(user)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Inspect").wait_for()


def upload(page, files: list[Path]) -> None:
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files([str(f) for f in files])
    # The file input keeps the focus, and Streamlit ignores shortcuts typed into an input: give it back.
    page.get_by_role("heading", name="Inspect").click()


SHOWN = ("(() => { const box = document.querySelector('[data-testid=\"stSelectbox\"]');"
         " const input = box && box.querySelector('input');"
         " return box ? box.textContent + ' ' + (input ? input.value : '') : ''; })()")


def shown(page) -> str:
    """The sheet on screen, as the sheet list shows it: "3. • strip_03.png — …"."""
    return page.evaluate(f"() => {SHOWN}")


WILL_RECORD = "[...document.querySelectorAll('p')].map(p => p.textContent).find(t => t.startsWith('Will record:'))"


def will_record(page) -> str:
    page.wait_for_function(f"() => {WILL_RECORD} !== undefined", timeout=WAIT_MS)
    return page.evaluate(f"() => {WILL_RECORD}")


PICKED = ("(() => { const e = document.querySelector('[class*=\"st-key-inspect-sheet-pick-\"]');"
          " return e ? [...e.classList].find(c => c.startsWith('st-key-inspect-sheet-pick-')) : ''; })()")


def skip(page) -> None:
    """S, then until the server has drawn another sheet (the picker's key names the sheet it shows)."""
    before = page.evaluate(f"() => {PICKED}")
    page.keyboard.press("s")
    page.wait_for_function(f"b => {PICKED} !== b", arg=before, timeout=WAIT_MS)
    idle(page)


READY = """() => {
    const keyed = prefix => [...document.querySelectorAll(`[class*="st-key-${prefix}"]`)]
        .map(e => [...e.classList].find(c => c.startsWith(`st-key-${prefix}`)).slice(`st-key-${prefix}`.length));
    const picked = keyed("inspect-sheet-pick-");
    const panels = keyed("details-inspect-");
    // The keyboard listener serves the same sheet (ui.keyboard stamps each press with it).
    const scopes = [...document.querySelectorAll("[data-keys-scope]")].map(e => e.dataset.keysScope);
    // Streamlit's own run state (its e2e tests wait on it too): a key pressed during a rerun can be merged away.
    const app = document.querySelector('[data-testid="stApp"]');
    const finished = app && app.getAttribute("data-test-script-state") === "notRunning";
    return finished && picked.length === 1 && panels.length === 1 && panels[0] === picked[0]
        && scopes.length === 1 && scopes[0] === `inspect-${picked[0]}`;
}"""


def idle(page) -> None:
    """Until the sheet list and the decision row show the same, one sheet: a key pressed while the previous sheet's
    buttons are still on screen would reach them (harmlessly: a decided sheet refuses a second first decision)."""
    page.wait_for_function(READY, timeout=WAIT_MS)


def press_to_decide(page, key: str, count: int) -> None:
    page.keyboard.press(key)
    decided(page, count)


def decided(page, count: int) -> None:
    try:
        page.get_by_text(re.compile(rf"\b{SHEETS} sheets · {count} decided\b")).first.wait_for(timeout=WAIT_MS)
    except Exception:
        page.screenshot(path=str(Path(os.environ["STEELSCAN_IMAGE_STORE"]).parent / "not-decided.png"))
        raise
    idle(page)


def test_twenty_sheets_by_keyboard_a_reload_and_a_colleague(tmp_path):
    settings = {key: os.environ[key] for key in SETTINGS}
    settings["STEELSCAN_SIGN_IN_FIRST_DELAY_SECONDS"] = "0"
    accounts = Accounts(settings["STEELSCAN_DATABASE_URL"])
    accounts.add_user("ivan", PASSWORD, "inspector", created_by="test")
    accounts.add_user("bob", PASSWORD, "inspector", created_by="test")
    accounts.close()
    folder = tmp_path / "strips"
    folder.mkdir()
    files = []
    for seed in range(SHEETS):
        files.append(folder / f"strip_{seed:02d}.png")
        files[-1].write_bytes(strip_png(500 + seed, (seed % 4,)))
    expected: dict[str, tuple[str, str]] = {}  # sheet name -> (decision kind, reason)
    with streamlit_server(settings, tmp_path / "streamlit.log") as url, \
            chromium_page(tmp_path / "ivan", height=768, width=1366) as page:
        sign_in(page, url, "ivan")
        upload(page, files)
        # The whole batch first (21 strips through the tiny set: seconds when quiet, a minute or more when loaded).
        page.get_by_text(re.compile(rf"\b{SHEETS} sheets · 0 decided\b")).first.wait_for(timeout=4 * WAIT_MS)
        idle(page)
        page.get_by_text(f"{SHEETS} to decide").first.wait_for(timeout=WAIT_MS)
        skipped: set[str] = set()
        step = 0
        while len(expected) < SHEETS - 1:
            # Read the sheet only once a run has finished: the batch's last image triggers a whole-page rerun,
            # during which the sheet list is briefly not on screen.
            page.wait_for_function(f"() => ({READY})() && /strip_\\d+\\.png/.test({SHOWN})", timeout=WAIT_MS)
            name = re.search(r"strip_\d+\.png", shown(page)).group(0)
            if name == files[-1].name:  # kept for the colleague
                skip(page)
                continue
            action = "asof"[step % 4]
            step += 1
            if action == "s" and name not in skipped:
                skipped.add(name)
                skip(page)
                continue
            defective = page.get_by_role("button", name=re.compile(r"^Defect-free")).count() > 0
            if action == "f" and defective:
                expected[name] = ("override", "false alarm")
                press_to_decide(page, "f", len(expected))
            elif action == "o":
                page.keyboard.press("o")
                page.get_by_role("button", name=re.compile(r"wrong class")).wait_for(timeout=WAIT_MS)
                idle(page)
                before = will_record(page)
                page.keyboard.press("1")  # toggles pits: the label now differs from the model's
                # Wait for the toggle's rerun: Streamlit merges a second press made while the first still reruns.
                page.wait_for_function(f"() => {WILL_RECORD} !== {before!r}", timeout=WAIT_MS)
                idle(page)
                expected[name] = ("override", "wrong class")
                press_to_decide(page, "w", len(expected))
            else:
                expected[name] = ("accept", "")
                press_to_decide(page, "a", len(expected))
            if len(expected) == 10:  # a reload in the middle: still signed in, the batch is back
                page.reload()
                page.get_by_role("heading", name="Inspect").wait_for()
                decided(page, 10)
                assert page.get_by_role("heading", name="Sign in to SteelScan").count() == 0
        assert skipped, "the schedule skipped no sheet"

        # A colleague in another browser opens the same image and decides it first.
        with another_page(page, tmp_path / "bob", height=768, width=1366) as other:
            sign_in(other, url, "bob")
            upload(other, [files[-1]])
            other.get_by_role("button", name=re.compile(r"^Accept")).wait_for(timeout=WAIT_MS)
            other.keyboard.press("a")
            other.get_by_text(re.compile(r"1 sheets · 1 decided")).first.wait_for(timeout=WAIT_MS)
        assert files[-1].name in shown(page)  # the only undecided sheet left in ivan's batch
        page.keyboard.press("a")
        page.get_by_text(re.compile(r"Not recorded: .* bob decided")).wait_for(timeout=WAIT_MS)
        page.get_by_role("button", name=re.compile(r"^Keep theirs")).wait_for()

    log = ReviewLog.from_settings(load_settings())
    reviews = log.reviews_frame()
    mine = reviews[reviews["reviewer"] == "ivan"]
    assert len(mine) == SHEETS - 1 and mine["image_sha256"].is_unique
    assert {row.image_name: (row.decision, row.reason) for row in mine.itertuples()} == expected
    assert {kind for kind, _ in expected.values()} == {"accept", "override"}
    assert {reason for _, reason in expected.values()} >= {"wrong class", ""}
    theirs = reviews[reviews["image_name"] == files[-1].name]
    assert theirs["reviewer"].tolist() == ["bob"]  # detected, not overwritten
