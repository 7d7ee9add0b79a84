"""Who is signed in: the sign-in page, the first-admin notice, the sidebar's user box, and page guards.

Local accounts live in core.accounts.auth (Argon2id, expiring sessions). The session token sits in this
browser session's state, and in a signed, expiring cookie (core.accounts.cookies) so a reload, a bookmark or a
pasted link stays signed in. Every rerun asks the database whether the session is still live, so an
expired, revoked or disabled session falls back to the sign-in page at the next click, cookie or not.

Streamlit reads cookies (st.context.cookies: those sent when the browser connected) but a script run cannot set
them: it talks to the browser over a WebSocket. So the server sets the cookie itself, HttpOnly, from its own route
(core.accounts.web, served beside Streamlit's by app.py's st.App): a sign-in or sign-out hands the page a one-time
ticket, and a small script in the page redeems it there. Every run hands the ticket over again until the route
has redeemed it, so a rerun that replaces the page before the browser ran the script (an open batch reruns at
once) cannot lose the cookie. SameSite=Strict, `__Host-` and Secure over https, signed, and useless without the
server's live session.
Optional single sign-on (OIDC) uses Streamlit's st.login when .streamlit/secrets.toml has an
[auth] section; such a user still needs a local account (same user name) that gives the role.
"""

from __future__ import annotations

import json
from functools import lru_cache

import streamlit as st

from core.accounts import clients
from core.accounts.auth import PERMISSIONS, USERNAME, Accounts, AuthError, ThrottlePolicy, User
from core.accounts.cookies import TICKETS, SessionCookie, cookie_from, load_or_create_secret
from core.accounts.web import route_path, session_cookie_routes
from core.contract.settings import load_settings
from core.review.store.models import utc_now
from ui import state

FIRST_ADMIN_COMMAND = ".venv/bin/steelscan users add NAME --role admin"


@st.cache_resource(show_spinner=False)
def _accounts(database_url: str, max_failures: int, client_max_failures: int, lock_minutes: float,
              first_delay_s: float, free_failures: int) -> Accounts:
    return Accounts(database_url, throttle=ThrottlePolicy(max_failures, client_max_failures, lock_minutes,
                                                          first_delay_s, free_failures=free_failures))


def accounts() -> Accounts:
    current = state.settings()
    return _accounts(current.database_url, current.sign_in_max_failures, current.sign_in_client_max_failures,
                     current.sign_in_lock_minutes, current.sign_in_first_delay_seconds,
                     current.sign_in_free_failures)


@st.cache_resource(show_spinner=False)
def _session_cookie(secret_path: str) -> SessionCookie:
    return SessionCookie(load_or_create_secret(secret_path))


def session_cookie() -> SessionCookie:
    return _session_cookie(str(state.settings().session_secret_path))


def browser_cookie() -> str | None:
    """The sign-in cookie the browser sent when this session connected (a reload reconnects)."""
    return cookie_from(st.context.cookies)


def cookie_routes() -> list:
    """The cookie route for app.py's st.App (read once, when the server starts)."""
    settings = load_settings()
    return session_cookie_routes(st.get_option("server.baseUrlPath") or "",
                                 clients.parse_networks(settings.trusted_proxies))


def _cookie_script(ticket: str) -> str:
    # The browser POSTs the ticket to the server's route, whose answer sets the HttpOnly cookie; a network hiccup
    # is retried (the page also hands the ticket over again on each run until it is redeemed).
    url, body = json.dumps(route_path(st.get_option("server.baseUrlPath") or "")), json.dumps(ticket)
    return ("<script>(async () => { for (let i = 0; i < 5; i++) { try { const r = await fetch("
            f"{url}, {{method: 'POST', body: {body}, credentials: 'same-origin', cache: 'no-store'}}); "
            "if (r.status < 500) return; } catch (e) {} await new Promise(w => setTimeout(w, 1000)); } })();"
            "</script>")


def _remember_in_browser(token: str) -> None:
    """Hand this session's cookie to the browser (see write_cookie)."""
    expires = accounts().session_expires_at(token)
    if expires is not None:
        value = session_cookie().issue(token, expires)
        max_age = max(1, int((expires - utc_now()).total_seconds()))
        st.session_state.auth_cookie_ticket = ("set", TICKETS.issue(value, max_age))


def _forget_in_browser() -> None:
    st.session_state.auth_cookie_ticket = ("delete", TICKETS.issue("", 0))  # Max-Age=0 deletes it


def write_cookie() -> None:
    """Until the browser has redeemed this session's cookie ticket, hand it over again (each run)."""
    pending = st.session_state.get("auth_cookie_ticket")
    if pending is None:
        return
    kind, ticket = pending
    status = TICKETS.status(ticket)
    if status == "void":  # expired unredeemed (a tab asleep): a fresh ticket, unless the session ended since
        token = st.session_state.get("auth_token")
        if kind == "set" and token:
            _remember_in_browser(token)
        elif kind == "delete":
            _forget_in_browser()
        else:
            del st.session_state["auth_cookie_ticket"]
            return
        kind, ticket = st.session_state.auth_cookie_ticket
        status = TICKETS.status(ticket)
    if status == "redeemed":
        del st.session_state["auth_cookie_ticket"]
        return
    st.html(_cookie_script(ticket), unsafe_allow_javascript=True, width="content")


def _restore_from_cookie() -> User | None:
    """The user of a live session named by the browser's cookie (a reload, a bookmark, a pasted link)."""
    value = browser_cookie()
    if not value or value == st.session_state.get("auth_cookie_refused"):
        return None
    token = session_cookie().token_from(value)
    user = accounts().user_for(token) if token else None
    if user is None:  # forged, expired, signed out or revoked: ask once, then delete it
        st.session_state.auth_cookie_refused = value
        _forget_in_browser()
        return None
    st.session_state.auth_token = token
    return user


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[clients.Network, ...]:
    return clients.parse_networks(entries)


def client_address() -> str:
    """The browser's address: the connection's peer, or, when that peer is one of `trusted_proxies`, what
    X-Forwarded-For says (core.accounts.clients). Streamlit hides a loopback peer: read as 127.0.0.1."""
    headers = getattr(st.context, "headers", None)
    forwarded = headers.get_all("X-Forwarded-For") if headers else []
    peer = getattr(st.context, "ip_address", None)
    # Strings only: under AppTest, Streamlit's stand-in runtime answers with mocks.
    return clients.client_address(peer if isinstance(peer, str) else None,
                                  ", ".join(v for v in forwarded if isinstance(v, str)) if isinstance(forwarded, list)
                                  else "", _networks(tuple(state.settings().trusted_proxies)))


def oidc_configured() -> bool:
    """Single sign-on only where the deployment set it up (an [auth] section in secrets.toml)."""
    return st.secrets.load_if_toml_exists() and "auth" in st.secrets


def oidc_username(email: str | None, domain: str) -> str | None:
    """The local account an identity provider's e-mail maps to: `name@domain` -> `name`.

    Only for the one configured domain (settings: oidc_email_domain), so an account at another
    provider or domain that happens to share the local part never inherits a role.
    """
    if not email or not domain or "@" not in email:
        return None
    local, _, at = email.rpartition("@")
    if at.lower() != domain.lower().lstrip("@") or not USERNAME.match(local):
        return None
    return local


def verified_email(claims) -> str | None:
    """The e-mail of an identity provider's claims only if the provider says it verified it (`email_verified`
    true, OIDC Core 5.1): anyone can register an unverified address at some providers, e.g. ivan@plant.example."""
    email = claims.get("email")
    return email if email and claims.get("email_verified") is True else None


def _oidc_user() -> User | None:
    if not (oidc_configured() and st.user.get("is_logged_in", False)):
        return None
    email = st.user.get("email")
    if verified_email(st.user) is None:
        st.session_state.auth_notice = (f"{email} signed in through single sign-on, but the identity provider "
                                        "has not verified that e-mail address: verify it there, then sign in again.")
        return None
    name = oidc_username(email, state.settings().oidc_email_domain)
    match = [u for u in accounts().list_users() if u["username"] == name and u["active"]]
    if not match:
        st.session_state.auth_notice = (f"{email} signed in through single sign-on, but no active SteelScan account "
                                        "matches it: ask an admin to add one with that user name.")
        return None
    return User(match[0]["username"], match[0]["role"])


def current_user() -> User | None:
    """The signed-in user, or None; a session that ended since the last rerun is dropped with a notice."""
    token = st.session_state.get("auth_token")
    if token:
        user = accounts().user_for(token)
        if user is not None:
            return user
        st.session_state.auth_token = None
        st.session_state.auth_notice = ("Your session has ended (expired, signed out or changed by an admin): "
                                        "sign in again.")
        st.session_state.auth_cookie_refused = browser_cookie()  # the ended session's cookie, if it came with one
        _forget_in_browser()
        return _oidc_user()
    return _restore_from_cookie() or _oidc_user()


def sign_out() -> None:
    token = st.session_state.get("auth_token")
    if token:
        accounts().sign_out(token)
    # A shared terminal: the next person must not find this one's uploads, selection or skipped sheets.

    for key in list(st.session_state):
        del st.session_state[key]
    state.init_session()
    st.session_state.auth_notice = "Signed out."
    st.session_state.auth_cookie_refused = browser_cookie()  # this connection still carries the old cookie
    _forget_in_browser()
    if oidc_configured() and st.user.get("is_logged_in", False):
        st.logout()


def require(permission: str) -> User:
    """The signed-in user if the role allows `permission`; otherwise the page says why and stops.

    Pages call this themselves: hiding a page from the navigation is not enough.
    """
    user = current_user()
    if user is None:  # e.g. the session expired while this page was open: sign in right here
        (sign_in_page if accounts().has_users() else first_admin_page)()
        st.stop()
    if not user.can(permission):
        st.error(f"{user.username} ({user.role}) may not use this page: it needs the "
                 f"{PERMISSIONS[permission]} role or higher — ask an admin if you need it.")
        st.stop()
    return user


def user_box(user: User, database: str) -> None:
    with st.sidebar:
        st.markdown(f"Signed in: **{user.username}** · {user.role}")
        st.button("Sign out", key="sign_out", icon=":material/logout:", on_click=sign_out)
        if user.role == "admin":  # where the data lives is an admin's business, not an inspector's
            st.caption(f"Review log: {database}")
        write_cookie()


def _submit_sign_in() -> None:
    """The form's callback, before the run: a success signs in this very run (the URL's page opens at once);
    a failure keeps the user name and clears only the password."""
    name = str(st.session_state.get("sign_in_user") or "").strip()
    password = str(st.session_state.get("sign_in_password") or "")
    st.session_state.sign_in_password = ""
    try:
        _, token = accounts().sign_in(name, password, client=client_address())
    except AuthError as exc:
        st.session_state.sign_in_error = str(exc)
    else:
        st.session_state.pop("sign_in_error", None)
        st.session_state.auth_token = token
        _remember_in_browser(token)


def sign_in_page() -> None:
    st.title("Sign in to SteelScan")
    write_cookie()  # after a sign-out: delete the cookie
    notice = st.session_state.pop("auth_notice", "")
    if notice:
        st.info(notice)
    with st.form("sign_in", clear_on_submit=False):  # a failure keeps the name; the callback clears the password
        st.text_input("User name", key="sign_in_user", autocomplete="username")
        st.text_input("Password", type="password", key="sign_in_password", autocomplete="current-password")
        st.form_submit_button("Sign in", type="primary", on_click=_submit_sign_in)
    error = st.session_state.pop("sign_in_error", "")
    if error:
        st.error(error)
    if oidc_configured():
        st.button("Sign in with single sign-on", icon=":material/key:", on_click=st.login)
    st.caption("No account? An admin adds one on the Users page or with "
               "`.venv/bin/steelscan users add NAME --role inspector`.")


def first_admin_page() -> None:
    st.title("SteelScan has no accounts yet")
    st.error("No account exists in this review log, so SteelScan serves no page until the first admin is created.")
    st.markdown("On the server, in the project folder (with the same settings as the app), run:")
    st.code(FIRST_ADMIN_COMMAND, language="bash")
    # Where the data lives is not shown: anyone who reaches the server can open this page.
    st.markdown("It asks for the password twice (10 characters or more). Then reload this page and sign in; "
                "the admin adds everyone else on the Users page.")


def page_header(title: str, permission: str) -> User:
    """Every page's top: refuse a role without `permission`, then the title and the signed-in user's box.

    Called by each page rather than app.py: elements the router draws around a page are lost
    on reruns under AppTest, and a page must refuse on its own even when opened directly.
    """
    user = require(permission)
    st.title(title)
    user_box(user, state.review_log().display_url)
    return user

