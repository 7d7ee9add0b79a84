"""Text from outside (a model card's description and notes, an inspector's reason) is shown as typed: a markdown link
or image in it stays text, so no page links to or loads from another site."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers.dashboard import ROOT, account_token, dashboard_env, models_dir  # noqa: F401

HOSTILE = "[x](http://evil)![i](http://evil/i.png)"
LIVE_LINK = re.compile(r"(?<!\\)\]\(")  # "](" not escaped: markdown would make a link or an image of it
TIMEOUT = 300


def shown(app: AppTest) -> list[str]:
    """Every piece of markdown the page rendered, with the hostile text in it."""
    elements = [*app.markdown, *app.caption, *app.info, *app.warning, *app.error, *app.success]
    texts = [e.value for e in elements] + [e.label for e in app.expander]
    return [t for t in texts if "evil" in t]


def test_card_text_is_shown_as_typed_on_the_models_page(models_dir, tmp_path, monkeypatch):  # noqa: F811
    hostile = tmp_path / "models"
    shutil.copytree(models_dir, hostile)
    for card_path in hostile.glob("*/card.json"):
        card = json.loads(card_path.read_text())
        card["description"] = HOSTILE
        if card.get("domain"):
            card["domain"]["note"] = HOSTILE
        card_path.write_text(json.dumps(card))
    monkeypatch.setenv("STEELSCAN_MODELS_DIR", str(hostile))
    monkeypatch.setenv("STEELSCAN_DATABASE_URL", f"sqlite:///{tmp_path / 'review.db'}")
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    app.session_state["auth_token"] = account_token("ada", "admin")
    app.run()
    app.switch_page("app_pages/models.py").run()
    assert not app.exception
    texts = shown(app)
    assert texts, "the description is shown somewhere"
    assert not [t for t in texts if LIVE_LINK.search(t)], texts


def _badge(reason: str) -> None:
    from datetime import datetime

    from core.review.store import CurrentLabel
    from tests.helpers.dashboard import make_verdict, noise_png
    from ui.verdict_view import verdict_badge

    data = noise_png(1)
    verdict_badge(make_verdict(data, "sheet.png", (0.9, 0.1, 0.1, 0.1)),
                  CurrentLabel(1, ("pits",), "override", "ann", datetime(2026, 12, 8, 10, 0), reason))


@pytest.mark.usefixtures("dashboard_env")
def test_a_reason_is_shown_as_typed():
    app = AppTest.from_function(_badge, args=(HOSTILE,), default_timeout=TIMEOUT).run()
    assert not app.exception
    texts = shown(app)
    assert len(texts) == 1 and not LIVE_LINK.search(texts[0]), texts
    assert "x" in texts[0] and "http\\://evil/i.png" in texts[0]  # all of it is there, as text
