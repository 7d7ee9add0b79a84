"""The decision row's keys (issue 37 item 2): on an out-of-domain sheet A first asks for a check, and only A pressed
again (armed) accepts; a familiar sheet keeps its one-key Accept."""

from __future__ import annotations

from dataclasses import replace

from tests.helpers.dashboard import make_verdict, strip_png
from ui.decision_panel import _keys


def test_a_accepts_an_out_of_domain_sheet_only_when_armed():
    verdict = make_verdict(strip_png(3), "strip.png", (0.9, 0.1, 0.1, 0.1))
    odd = replace(verdict, ood_score=7.5, out_of_domain=True, domain_level="out of domain")
    assert _keys(verdict, None, False)["a"] == "accept"
    assert _keys(odd, None, False)["a"] == "arm"
    assert _keys(odd, None, False, armed=True)["a"] == "accept"
    unusual = replace(verdict, ood_score=1.4, domain_level="unusual")
    assert _keys(unusual, None, False)["a"] == "accept"
