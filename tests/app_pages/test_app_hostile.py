"""Hostile uploads in the Inspect page: one clear error per bad file, nothing logged for it, the rest inspected,
the app keeps serving; oversize uploads and path-like or odd unicode names."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from core.contract.settings import load_settings
from core.datasets.synthetic import CLASS_NAMES
from core.review.store import ReviewLog
from core.review.store.models import ImageRow, InferenceRow, ReviewRow
from tests.helpers.apptest import settle, sheet_picker
from tests.helpers.dashboard import ROOT, account_token, dashboard_env, models_dir, noise_png, strip_png  # noqa: F401
from tests.helpers.hostile_corpus import HOSTILE_CARD_EDITS, corpus

TIMEOUT = 300
pytestmark = pytest.mark.usefixtures("dashboard_env")


def inspect_page(username: str = "ivan") -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    app.session_state["auth_token"] = account_token(username, "inspector")
    return app.run()


def counts(log: ReviewLog) -> tuple[int, int, int]:
    with log.engine.connect() as connection:
        return tuple(connection.execute(select(func.count()).select_from(table)).scalar_one()
                     for table in (ImageRow, InferenceRow, ReviewRow))


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_each_hostile_file_gets_its_own_error_and_leaves_no_trace(tmp_path):
    files = corpus()
    app = inspect_page()
    uploader = app.file_uploader[0]
    for name, (data, _) in files.items():
        uploader.upload(name, data, "application/octet-stream")
    settle(uploader.upload("good-strip.png", strip_png(81), "image/png").run())
    assert not app.exception

    # One summary line on screen (the decision row stays visible), each file's own message behind Details.
    rejected = {name: expected for name, (_, expected) in files.items() if expected}
    [summary] = [e.value for e in app.error]
    assert summary.startswith(f"{len(rejected)} files not inspected: "), summary
    # Each message is drawn as plain text (markdown characters escaped); compare what a reader sees.
    errors = [re.sub(r"\\(.)", r"\1", m.value.removeprefix("- ")) for m in app.markdown if m.value.startswith("- ")]
    for name, expected in rejected.items():
        mine = [e for e in errors if e.startswith(f"{name}: ")]
        assert len(mine) == 1, (name, errors)
        assert re.search(expected, mine[0]) and "\n" not in mine[0] and "Traceback" not in mine[0], mine[0]
    assert len(errors) == len(rejected)  # the valid oddities and the good strip raised nothing

    log = ReviewLog.from_settings(load_settings())
    accepted = [name for name, (_, expected) in files.items() if expected is None] + ["good-strip.png"]
    distinct = {files[n][0] for n in accepted if n in files} | {strip_png(81)}
    assert counts(log) == (len(distinct), len(accepted), 0)  # one verdict per accepted file, no rejected one
    assert len(sheet_picker(app).options) == len(accepted)
    assert len(stored_files(Path(load_settings().image_store))) == len(distinct)

    # The server keeps serving: a second session inspects and decides as usual.
    other = inspect_page("olga")
    settle(other.file_uploader[0].upload("next.png", strip_png(82), "image/png").run())
    assert not other.exception and not other.error
    [accept] = [b for b in other.button if b.label.startswith("Accept")]
    accept.click().run()
    assert counts(log)[1:] == (len(accepted) + 1, 1)


def test_an_upload_over_the_size_limit_is_refused_before_decoding(monkeypatch):
    small, large = noise_png(1, size=40), noise_png(2, size=256)
    limit = 20_000
    assert len(small) < limit < len(large)
    monkeypatch.setenv("STEELSCAN_MAX_UPLOAD_BYTES", str(limit))
    app = inspect_page()
    settle(app.file_uploader[0].upload("huge.png", large, "image/png").upload("small.png", small, "image/png").run())
    assert not app.exception
    [error] = [e.value for e in app.error]
    assert error.startswith(f"huge.png: is {len(large) / 1e3:.0f} kB, over the 20 kB upload limit")
    assert "max_upload_bytes" in error
    log = ReviewLog.from_settings(load_settings())
    assert counts(log) == (1, 1, 0)
    assert log.images_frame()["image_name"].tolist() == ["small.png"]


def test_path_like_and_odd_unicode_names_are_sanitised_and_stay_in_the_store(tmp_path):
    settings = load_settings()
    names = {"../../escape.png": "escape.png", "..\\..\\windows.png": "windows.png",
             "naïve-ß-東京-\u202egnp.exe.png": "naïve-ß-東京-gnp.exe.png", "\u200b.png": ".png"}
    app = inspect_page()
    uploader = app.file_uploader[0]
    for seed, name in enumerate(names):
        uploader.upload(name, strip_png(90 + seed), "image/png")
    settle(uploader.run())
    assert not app.exception and not app.error
    log = ReviewLog.from_settings(settings)
    assert sorted(log.images_frame()["image_name"]) == sorted(names.values())
    store = Path(settings.image_store)
    stored = stored_files(store)
    assert len(stored) == len(names)
    assert all(re.fullmatch(r"[0-9a-f]{64}\.png", p.name) and p.parent.parent == store for p in stored)
    everything = stored_files(tmp_path.parent)  # nothing landed beside or above the test's folders
    assert not [p for p in everything if p.name in ("escape.png", "windows.png")]


# -- issue 13: the dashboard's other trust boundaries ---------------------------------------------------------

def test_folder_mode_never_reads_outside_the_image_roots(tmp_path, monkeypatch):
    root, private = tmp_path / "plant-images", tmp_path / "private"
    (root / "line3").mkdir(parents=True)
    private.mkdir()
    (root / "line3" / "ok.png").write_bytes(strip_png(70))
    (private / "secret.png").write_bytes(strip_png(71))
    (root / "escape").symlink_to(private, target_is_directory=True)  # a folder link out of the root
    (root / "line3" / "linked-secret.png").symlink_to(private / "secret.png")  # a file link out of the root
    monkeypatch.setenv("STEELSCAN_IMAGE_ROOTS", str(root))
    app = inspect_page()
    app.segmented_control(key="inspect_mode").set_value("Folder").run()
    assert "escape" not in app.selectbox(key="folder_sub").options
    [inspect] = [b for b in app.button if b.label.startswith("Open as my batch (1 to inspect)")]
    settle(inspect.click().run())
    assert not app.exception
    log = ReviewLog.from_settings(load_settings())
    assert log.images_frame()["image_name"].tolist() == [str((root / "line3" / "ok.png").resolve())]
    assert counts(log) == (1, 1, 0)  # the secret was neither shown, hashed into the log nor copied to the store


def test_a_password_guesser_is_made_to_wait_and_every_attempt_logged(monkeypatch):
    """From the sign-in page: free failures say they registered, then the name waits from this address (growing
    delays, never a name lock anyone could trigger from elsewhere); each attempt is in the failure log."""
    monkeypatch.setenv("STEELSCAN_SIGN_IN_FREE_FAILURES", "2")
    monkeypatch.setenv("STEELSCAN_SIGN_IN_FIRST_DELAY_SECONDS", "30")
    account_token("ivan", "inspector")
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    messages = []
    for guess in ("password1", "letmein123", "ivan-ivan-ivan", "inspector-pass-1"):
        app.text_input(key="sign_in_user").input("ivan")
        app.text_input(key="sign_in_password").input(guess)
        [submit] = [b for b in app.button if b.label == "Sign in"]
        submit.click().run()
        messages.append(app.error[0].value if app.error else "")
    assert "attempt 1 registered" in messages[0] and "1 more attempt" in messages[0], messages
    assert "attempt 2 registered" in messages[1] and "wait 30 s" in messages[1], messages
    assert all("too soon" in m and "wait" in m for m in messages[2:]), messages
    assert app.text_input(key="sign_in_user").value == "ivan"  # the name stays in the form
    from core.accounts.auth import Accounts
    accounts = Accounts(load_settings().database_url)
    deadline = time.monotonic() + 5  # a refused attempt is written within a second (batched in a flood)
    while len(accounts.sign_in_failures()) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [f["reason"] for f in accounts.sign_in_failures()] == ["delayed"] * 2 + ["wrong_password"] * 2
    accounts.close()


def test_formula_names_and_reasons_reach_the_exports_as_text(tmp_path):
    from core.contract.csvsafe import FORMULA_LEADS
    from core.review.store import export_training_set
    from tests.helpers.hostile_corpus import CSV_PAYLOADS

    app = inspect_page()
    uploader = app.file_uploader[0]
    for seed, payload in enumerate(CSV_PAYLOADS):
        uploader.upload(f"{payload}.png", strip_png(120 + seed), "image/png")
    settle(uploader.run())
    assert not app.exception
    sheets = sorted(ReviewLog.from_settings(load_settings()).images_frame()["inference_id"].astype(int))
    assert len(sheets) == len(CSV_PAYLOADS), [e.value for e in app.error]
    for payload in CSV_PAYLOADS:  # override each sheet with a formula as reason; each decision opens the next
        next(b for b in app.button if b.label == "Override…").click().run()
        present = [b.label for b in app.button if b.label in CLASS_NAMES and b.proto.type == "primary"]
        for name in present or ["pits"]:  # defect-free, or pits on a clean verdict
            next(b for b in app.button if b.label == name).click().run()
        [reason] = [t for t in app.text_input if t.key and t.key.startswith("reason-")]
        reason.input(payload)
        next(b for b in app.button if b.label == "Record (Enter)").click().run()
        assert not app.exception and not app.error, [e.value for e in app.error]
    log = ReviewLog.from_settings(load_settings())
    decided = log.reviews_frame()
    assert sorted(decided["inference_id"]) == sheets  # every sheet decided exactly once
    assert sorted(decided["reason"]) == sorted(p.strip() for p in CSV_PAYLOADS)
    export_training_set(log, tmp_path / "export")
    import csv
    with (tmp_path / "export" / "decisions.csv").open(newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not [c for c in cells if c.startswith(FORMULA_LEADS)]


@pytest.mark.parametrize("where, value, expected", [pytest.param(*case, id="/".join(map(str, case[0])))
                                                    for case in HOSTILE_CARD_EDITS[:3]])
def test_a_hostile_model_card_is_refused_on_the_models_page(models_dir, where, value, expected,  # noqa: F811
                                                           tmp_path, monkeypatch):
    import json
    import shutil

    hostile = tmp_path / "models"
    shutil.copytree(models_dir, hostile)
    card_path = next(hostile.glob("*/card.json"))
    card = json.loads(card_path.read_text())
    target = card
    for part in where[:-1]:
        target = target[part]
    target[where[-1]] = value
    card_path.write_text(json.dumps(card))
    monkeypatch.setenv("STEELSCAN_MODELS_DIR", str(hostile))
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    app.session_state["auth_token"] = account_token("ada", "admin")
    app.run()
    app.switch_page("app_pages/models.py").run()
    assert not app.exception
    errors = [e.value for e in app.error]
    assert any(re.search(expected, e) and "\n" not in e for e in errors), errors
    assert not any("<img" in m.value and "unsafe" in m.value for m in app.markdown)
