"""The server's cookie route (core.accounts.web): a one-time ticket becomes an HttpOnly Set-Cookie, `__Host-` and
Secure over https (also behind a trusted proxy that terminates TLS), refused across sites and on a second use."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient

from core.accounts.clients import parse_networks
from core.accounts.cookies import COOKIE_NAME, SECURE_COOKIE_NAME, CookieTickets
from core.accounts.web import session_cookie_routes


def client(tickets: CookieTickets, trusted: tuple[str, ...] = (), base_url: str = "http://testserver") -> TestClient:
    routes = session_cookie_routes(trusted_proxies=parse_networks(trusted), tickets=tickets)
    return TestClient(Starlette(routes=routes), base_url=base_url, client=("10.0.0.5", 4000))


def test_a_ticket_sets_an_httponly_cookie_once():
    tickets = CookieTickets()
    ticket = tickets.issue("token.123.sig", 3600)
    assert tickets.status(ticket) == "pending"
    reply = client(tickets).post("/_steelscan/session", content=ticket, headers={"Sec-Fetch-Site": "same-origin"})
    assert reply.status_code == 204
    assert reply.headers.get_list("set-cookie") == [
        f"{COOKIE_NAME}=token.123.sig; Max-Age=3600; Path=/; HttpOnly; SameSite=Strict"]
    assert tickets.status(ticket) == "redeemed"
    assert client(tickets).post("/_steelscan/session", content=ticket).status_code == 404  # once only
    assert client(tickets).post("/_steelscan/session", content="made-up").status_code == 404


def test_over_https_the_cookie_is_host_prefixed_and_secure_and_deletion_clears_both_names():
    tickets = CookieTickets()
    reply = client(tickets, base_url="https://testserver").post("/_steelscan/session",
                                                               content=tickets.issue("v.1.s", 60))
    assert reply.headers["set-cookie"] == f"{SECURE_COOKIE_NAME}=v.1.s; Max-Age=60; Path=/; HttpOnly; " \
                                          "SameSite=Strict; Secure"
    # TLS ends at a trusted proxy on another host: its X-Forwarded-Proto counts; an untrusted peer's does not.
    behind = client(tickets, trusted=("10.0.0.5",)).post("/_steelscan/session", content=tickets.issue("v.1.s", 60),
                                                         headers={"X-Forwarded-Proto": "https"})
    assert behind.headers["set-cookie"].startswith(f"{SECURE_COOKIE_NAME}=")
    spoofed = client(tickets).post("/_steelscan/session", content=tickets.issue("v.1.s", 60),
                                   headers={"X-Forwarded-Proto": "https"})
    assert spoofed.headers["set-cookie"].startswith(f"{COOKIE_NAME}=")
    gone = client(tickets, base_url="https://testserver").post("/_steelscan/session", content=tickets.issue("", 0))
    assert gone.headers.get_list("set-cookie") == [
        f"{COOKIE_NAME}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict",
        f"{SECURE_COOKIE_NAME}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict; Secure"]


def test_another_site_cannot_plant_a_session():
    tickets = CookieTickets()
    ticket = tickets.issue("v.1.s", 60)
    reply = client(tickets).post("/_steelscan/session", content=ticket, headers={"Sec-Fetch-Site": "cross-site"})
    assert reply.status_code == 403 and "set-cookie" not in reply.headers
    assert tickets.status(ticket) == "pending"
    assert client(tickets).get("/_steelscan/session").status_code == 405
