"""The only HTML the dashboard builds itself (for st.markdown(unsafe_allow_html=True)); every outside text escaped."""

from __future__ import annotations

import html
import re

HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
SWATCH = ("<span style='display:inline-block;width:.8em;height:.8em;background:{};border-radius:2px;"
          "margin:0 .25em 0 .8em;vertical-align:middle'></span>{}")


def swatch_html(name: str, color: str) -> str:
    """A colour square and a class name for st.markdown(unsafe_allow_html=True): the only HTML we build.

    Both come from a model card or the review log, i.e. from outside: the name is escaped and a colour that is
    not `#rrggbb` becomes grey, so neither can close the attribute or the tag (cards are validated on load too).
    """
    safe_color = color if isinstance(color, str) and HEX_COLOUR.fullmatch(color) else "#808080"
    return SWATCH.format(safe_color, html.escape(str(name), quote=True))




MARKDOWN_INLINE = re.compile(r"([\\`*_{}\[\]<>|~$:])")  # emphasis, code, links, HTML, tables, formulas, :directives:
LIST_NUMBER = re.compile(r"\s*\d+(?=[.)](\s|$))")  # "1. " starts an ordered list: its dot is what to escape
BLOCK_MARK = re.compile(r"\s*(?=[#>+=-])")  # headings, quotes, bullet lists, rules


def plain_markdown(text: str) -> str:
    """Outside text (a logged reason, a user name) for st.markdown / st.caption, shown as typed: what markdown would
    act on is backslash-escaped, so no link, image, heading, list or formula can be smuggled in."""
    escaped = MARKDOWN_INLINE.sub(r"\\\1", " ".join(str(text).splitlines()))
    start = LIST_NUMBER.match(escaped) or BLOCK_MARK.match(escaped)
    return escaped[:start.end()] + "\\" + escaped[start.end():] if start else escaped
