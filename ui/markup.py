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
