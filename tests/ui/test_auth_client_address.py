"""The sign-in's client address behind a reverse proxy (issue 34): X-Forwarded-For is believed only from a
`trusted_proxies` peer, and only its right-most untrusted entry, so one proxy no longer makes every user one
address, and a client cannot pick its own address."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import streamlit

import ui.auth
from core.contract.settings import load_settings


class Headers:
    def __init__(self, values: dict[str, list[str]]) -> None:
        self.values = values

    def get_all(self, name: str) -> list[str]:
        return self.values.get(name, [])

    def __bool__(self) -> bool:
        return True


def seen_by_the_app(monkeypatch, peer: str | None, forwarded: list[str], trusted: str) -> str:
    monkeypatch.setattr(streamlit, "context", SimpleNamespace(ip_address=peer,
                                                             headers=Headers({"X-Forwarded-For": forwarded})))
    settings = SimpleNamespace(trusted_proxies=tuple(part for part in trusted.split(",") if part))
    monkeypatch.setattr(ui.auth.state, "settings", lambda: settings)
    return ui.auth.client_address()


@pytest.mark.parametrize(("peer", "forwarded", "trusted", "expected"), [
    # A proxy on another host, trusted: the address it saw (the client's own left-hand entries are ignored).
    ("10.0.0.5", ["203.0.113.66, 198.51.100.23"], "10.0.0.5", "198.51.100.23"),
    ("10.0.0.5", ["198.51.100.23", "10.1.0.9"], "10.0.0.5,10.1.0.0/16", "198.51.100.23"),  # two trusted hops
    # An untrusted peer cannot name its address: the header is ignored.
    ("192.0.2.77", ["198.51.100.23"], "10.0.0.5", "192.0.2.77"),
    # No setting: the peer, as before (a proxy's address then stands for everyone behind it).
    ("10.0.0.5", ["198.51.100.23"], "", "10.0.0.5"),
    # Streamlit reports loopback as no address: a proxy on this host, trusted as 127.0.0.1.
    (None, ["198.51.100.23"], "127.0.0.1", "198.51.100.23"),
    (None, [], "", "127.0.0.1"),
])
def test_the_sign_in_address_comes_from_a_trusted_proxy_only(monkeypatch, peer, forwarded, trusted, expected):
    assert seen_by_the_app(monkeypatch, peer, forwarded, trusted) == expected


def test_a_wrong_trusted_proxy_entry_is_named():
    from core.accounts.clients import client_address, parse_networks

    with pytest.raises(Exception, match="trusted_proxies.*'10.0.0.x' is not an IP address or CIDR block"):
        load_settings(environ={"STEELSCAN_TRUSTED_PROXIES": "10.0.0.5,10.0.0.x"})
    assert client_address("10.0.0.5", "a" * 100, parse_networks(["10.0.0.5"])) == "a" * 64  # stored bounded
