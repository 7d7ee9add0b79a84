"""API errors: the same one-line messages as the CLI, as a JSON body with a 4xx/5xx status."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from core.contract.errors import ImageError, SteelScanError


class ApiError(SteelScanError):
    """A SteelScanError with the HTTP status it answers with."""

    def __init__(self, status: int, source: str, reason: str, fix: str = "") -> None:
        super().__init__(source, reason, fix)
        self.status = status


def body(error: SteelScanError) -> dict:
    return {"error": error.message, "source": error.source, "reason": error.reason, "fix": error.fix}


def status_of(error: SteelScanError) -> int:
    if isinstance(error, ApiError):
        return error.status
    if isinstance(error, ImageError):
        return 422  # the image is unreadable or unacceptable: the caller must send another
    return 503  # the model set or the review log is unavailable: not the caller's fault


async def steelscan_error(_request: Request, error: SteelScanError) -> JSONResponse:
    return JSONResponse(body(error), status_code=status_of(error))


async def validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
    return JSONResponse(body(SteelScanError("request", problems, "see /docs for the expected request")),
                        status_code=422)
