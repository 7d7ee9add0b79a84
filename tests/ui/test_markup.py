"""The one piece of HTML the dashboard builds: card and review-log text cannot break out of it."""

from __future__ import annotations

from html.parser import HTMLParser

from ui.markup import swatch_html


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text = ""

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data) -> None:
        self.text += data


def parse(markup: str) -> _Tags:
    parser = _Tags()
    parser.feed(markup)
    return parser


def test_a_hostile_name_and_colour_stay_text_and_grey():
    name = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    color = "red' onmouseover='alert(3)"
    parsed = parse(swatch_html(name, color))
    assert [tag for tag, _ in parsed.tags] == ["span"]  # no img, no script
    (_, attrs), = parsed.tags
    assert set(attrs) == {"style"} and "background:#808080" in attrs["style"]
    assert parsed.text == name  # shown as typed, as text


def test_a_valid_card_colour_is_kept():
    (_, attrs), = parse(swatch_html("rolled-in_scale", "#42d4f4")).tags
    assert "background:#42d4f4" in attrs["style"]
