"""The API's edge: the key and the declared size are checked from the headers, before a byte of the body is read.

FastAPI parses a multipart body (spooling it to disk) before any route or dependency runs, so a check inside the
route comes after a caller without a key has already made the server read and store whatever it sent. This ASGI
middleware answers 401 / 413 from the headers alone; a body without Content-Length (chunked) is counted as it
arrives and cut off at the limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from core.accounts.apikeys import ApiKeys
from core.api.errors import ApiError, body

MULTIPART_SLACK = 64 * 1024  # part headers and boundaries around an upload of max_upload_bytes

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} kB"


def key_secret(headers: Headers) -> str | None:
    """The secret from X-API-Key or Authorization: Bearer."""
    bearer = headers.get("authorization", "")
    return headers.get("x-api-key") or (bearer[7:].strip() if bearer.lower().startswith("bearer ") else None)


def missing_key() -> ApiError:
    return ApiError(401, "API key", "is missing, unknown or revoked",
                    "send X-API-Key with a key from `steelscan keys add` (ask an admin)")


def too_big(size: int, limit: int) -> ApiError:
    return ApiError(413, "request", f"is {_size(size)}, over the {_size(limit)} upload limit",
                    "crop or downscale the image, or raise max_upload_bytes in settings")


class BodyTooBig(ApiError, HTTPException):
    """Raised from inside FastAPI's body parsing, which turns any other exception there into a bare 400; the
    SteelScanError handler (first in this class's MRO) answers it as the usual one-line 413."""

    def __init__(self, size: int, limit: int) -> None:
        error = too_big(size, limit)
        ApiError.__init__(self, 413, error.source, error.reason, error.fix)
        self.status_code, self.detail, self.headers = 413, error.message, None


class Gate:
    """Every path but `open_paths` needs a known key (put on request.state.api_key for the route's scope check);
    a body may be at most max_upload_bytes plus the multipart framing."""

    def __init__(self, app, keys: ApiKeys, max_upload_bytes: int, open_paths: Iterable[str]) -> None:
        self.app, self.keys = app, keys
        self.max_upload_bytes = max_upload_bytes
        self.max_body = max_upload_bytes + MULTIPART_SLACK
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        secret = key_secret(headers)
        key = await anyio.to_thread.run_sync(self.keys.check, secret) if secret else None
        if key is None:
            await self._refuse(missing_key(), scope, receive, send)
            return
        scope.setdefault("state", {})["api_key"] = key
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await self._refuse(ApiError(400, "Content-Length", f"{declared!r} is not a number",
                                            "send a valid Content-Length"), scope, receive, send)
                return
            if int(declared) > self.max_body:
                await self._refuse(too_big(int(declared), self.max_upload_bytes), scope, receive, send)
                return
        await self.app(scope, self._counted(receive), send)

    def _counted(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:  # a chunked body that does not say its size: cut off at the limit
                    raise BodyTooBig(seen, self.max_upload_bytes)
            return message

        return counted

    @staticmethod
    async def _refuse(error: ApiError, scope: Scope, receive: Receive, send: Send) -> None:
        # "Connection: close": the unread body is never drained, the client stops sending.
        response = JSONResponse(body(error), status_code=error.status, headers={"Connection": "close"})
        await response(scope, receive, send)
