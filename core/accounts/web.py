"""The sign-in cookie's HTTP route, served beside Streamlit's own (app.py hands it to st.App).

POST {base}/_steelscan/session with a one-time ticket as the body (core.accounts.cookies.CookieTickets) answers
204 with the cookie in Set-Cookie (HttpOnly, SameSite=Strict; `__Host-` and Secure over https, see
core.accounts.cookies), or 404 for an unknown, used or expired ticket. Only same-origin requests are served
(Sec-Fetch-Site), so another site cannot plant its own session in a browser. No streamlit import: the route is
plain Starlette.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.accounts.clients import Network, forwarded_https
from core.accounts.cookies import TICKETS, CookieTickets, set_cookie_headers

ROUTE = "_steelscan/session"
MAX_TICKET_BYTES = 128


def route_path(base_url_path: str = "") -> str:
    base = base_url_path.strip("/")
    return f"/{base}/{ROUTE}" if base else f"/{ROUTE}"


def session_cookie_routes(base_url_path: str = "", trusted_proxies: tuple[Network, ...] = (),
                          tickets: CookieTickets = TICKETS) -> list[Route]:
    async def redeem(request: Request) -> Response:
        if request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
            return Response(status_code=403)
        length = request.headers.get("content-length") or "0"
        if not length.isdigit() or int(length) > MAX_TICKET_BYTES:
            return Response(status_code=413)
        body = await request.body()
        found = tickets.redeem(body[:MAX_TICKET_BYTES].decode("ascii", "replace").strip())
        if found is None:
            return Response(status_code=404)
        peer = request.client.host if request.client else None
        https = request.url.scheme == "https" or forwarded_https(peer, request.headers.get("x-forwarded-proto"),
                                                                 trusted_proxies)
        response = Response(status_code=204, headers={"Cache-Control": "no-store"})
        for header in set_cookie_headers(*found, https=https):
            response.raw_headers.append((b"set-cookie", header.encode("latin-1")))
        return response

    return [Route(route_path(base_url_path), redeem, methods=["POST"])]
