"""A training job's log as people read it: stages and numbers, not a terminal's output.

The job's process writes what the trainer prints: tqdm and rich progress bars (one line per redraw), metrics as
Python dicts, library warnings. `readable` keeps the stages and numbers: each run of a progress bar becomes one line
with where it got to, a dict becomes "name value, name value", library chatter and blank lines go.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

# tqdm: "joint training:  45%|████▌     | 180/400 [12:01<14:40,  4.00s/step, loss=0.31]"
TQDM = re.compile(r"^(?P<what>[^|]*?):\s*\d+%\|[^|]*\|\s*(?P<done>\d+)/(?P<total>\d+)\s*\[(?P<elapsed>[\d:]+)"
                  r"(?:<[^,\]]*)?(?:,\s*[\d.?]+(?P<per>[a-z]+)/(?P<unit>[a-z]+))?(?P<rest>[^\]]*)\]")
# rich: "Statistics collection ━━━━━━━━━━━ 100% 33/33 • 0:00:00 • 0:00:00"
RICH = re.compile(r"^(?P<what>.+?)\s+[━─╸╺]+\s+\d+%\s+(?P<done>\d+)/(?P<total>\d+)")
# glog-style lines from torch's C++ side: "W1207 22:45:07.329000 2330 torch/utils/cpp_extension.py:183] ..."
LIBRARY = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ ")
DICT_AT_END = re.compile(r"^(?P<head>.*?)(?P<dict>\{.*\})\s*$")
STEP_FIELDS = re.compile(r",\s*(?P<key>\w+)=(?P<value>[-\d.e+]+)")


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _fields(mapping: dict, prefix: str = "") -> list[str]:
    parts = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            parts += _fields(value, f"{prefix}{key} ")
        elif isinstance(value, (list, tuple)):
            parts.append(f"{prefix}{key} " + ", ".join(_number(v) for v in value))
        elif value is not None:
            parts.append(f"{prefix}{key} {_number(value)}")
    return parts


def _without_dict(line: str) -> str:
    """'validation: {'images': 6, 'accuracy': 0.8333}' -> 'validation: images 6, accuracy 0.8333'."""
    found = DICT_AT_END.match(line)
    if not found:
        return line
    try:
        mapping = ast.literal_eval(found["dict"])
    except (ValueError, SyntaxError):  # cut short or not a literal: at least no quotes and braces
        return found["head"] + re.sub(r"'(\w+)':\s*", r"\1 ", found["dict"].strip("{}"))
    if not isinstance(mapping, dict):
        return line
    return found["head"] + ", ".join(_fields(mapping))


def _bar(line: str) -> tuple[str, str] | None:
    """(what the bar counts, where it got to) for a progress bar's line, else None."""
    found = TQDM.match(line)
    if found:
        unit = found["per"] if found["unit"] == "s" else found["unit"]  # 2.5img/s or 2.69s/step
        unit = "" if unit in ("it", None) else f" {unit}s"
        numbers = ", ".join(f"{key} {value}" for key, value in STEP_FIELDS.findall(found["rest"] or ""))
        return found["what"].strip(), (f"{found['done']}/{found['total']}{unit} in {found['elapsed']}"
                                       + (f" ({numbers})" if numbers else ""))
    found = RICH.match(line)
    if found:
        return found["what"].strip(), f"{found['done']}/{found['total']}"
    return None


def readable(text: str) -> list[str]:
    """The log's lines as people read them (see the module's doc), oldest first."""
    rows = [line.rsplit("\r", 1)[-1].rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    lines: list[str] = []
    bar_of_last_line = None
    for row in rows:
        if not row.strip() or LIBRARY.match(row):
            continue
        bar = _bar(row)
        if bar is not None:
            shown = f"{bar[0]}: {bar[1]}"
            if bar_of_last_line == bar[0]:
                lines[-1] = shown  # the same bar redrawn: only where it got to
            else:
                lines.append(shown)
            bar_of_last_line = bar[0]
            continue
        bar_of_last_line = None
        lines.append(_without_dict(row))
    return lines


def readable_tail(path: str | Path, lines: int = 12) -> list[str]:
    """The last `lines` readable lines of a job's log file ([] when there is none yet)."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 64_000))
        text = handle.read().decode("utf-8", "replace")
    return readable(text)[-lines:]
