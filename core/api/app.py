"""The HTTP API: images in, Verdicts out, through the same Inspector and review log as the dashboard.

Every route but /healthz needs an API key (`X-API-Key: ssk_...` or `Authorization: Bearer ssk_...`) with the
route's scope, checked with the body's declared size before the body is read (core.api.gate); every
authenticated call is logged against its key (api_calls). Inspections wait their turn in the process's one
inference queue (core.engine.slots.shared_slots), as the dashboard's do. OpenAPI docs at /docs with api_docs on.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated

from fastapi import FastAPI, File, Form, Query, Request, Security, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from core.accounts.apikeys import ApiKey, ApiKeys
from core.api.errors import ApiError, status_of, steelscan_error, validation_error
from core.api.gate import Gate, missing_key
from core.api.metrics import ApiMetrics
from core.contract.coil import CoilError, CoilPlace, place_from_fields
from core.contract.errors import SteelScanError
from core.engine.slots import InferenceSlots, shared_slots
from core.review.active import ActiveEngine
from core.review.batch import check_upload_size, upload_name
from core.review.queue import ORDERS, is_flagged, upcoming, waiting
from core.review.store import ReviewLog

KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key from `steelscan keys add`")
KeyHeader = Annotated[str | None, Security(KEY_HEADER)]


def create_app(engine: ActiveEngine, log: ReviewLog, band: float, max_upload_bytes: int, docs: bool = False,
               slots: InferenceSlots | None = None) -> FastAPI:
    app = FastAPI(title="SteelScan", version="1", description=__doc__, docs_url="/docs" if docs else None,
                  redoc_url=None, openapi_url="/openapi.json" if docs else None)
    keys = ApiKeys(log)
    slots = slots or shared_slots()
    # Added before `attribute`, so it runs inside it: a refusal with a known key (413) is logged too.
    app.add_middleware(Gate, keys=keys, max_upload_bytes=max_upload_bytes,
                       open_paths={"/healthz"} | ({"/docs", "/openapi.json"} if docs else set()))
    metrics = ApiMetrics(lambda: waiting(log, band))
    app.add_exception_handler(SteelScanError, steelscan_error)
    app.add_exception_handler(RequestValidationError, validation_error)

    @app.middleware("http")
    async def attribute(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - start
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(path, str(response.status_code)).inc()
        if response.status_code >= 400:
            metrics.errors.labels(str(response.status_code)).inc()
        key: ApiKey | None = getattr(request.state, "api_key", None)
        if key is not None:
            try:
                await run_in_threadpool(keys.log_call, key, request.method, request.url.path,
                                        response.status_code, elapsed * 1000,
                                        getattr(request.state, "inference_id", None))
            except (SQLAlchemyError, SteelScanError) as exc:
                # The work is done (a sheet may be recorded): failing the call now would make the caller retry
                # and record the sheet twice. Say so in a header and on stderr instead.
                print(f"warning: API call {request.method} {request.url.path} by key {key.name!r} not logged "
                      f"({type(exc).__name__}: {exc})", file=sys.stderr, flush=True)
                response.headers["X-SteelScan-Call-Log"] = "not recorded"
        return response

    def authorise(request: Request, _header_key: str | None, scope: str) -> ApiKey:
        key: ApiKey | None = getattr(request.state, "api_key", None)  # checked by the Gate from the headers
        if key is None:
            raise missing_key()
        if not key.allows(scope):
            raise ApiError(403, f"API key {key.name!r}", f"lacks the {scope!r} scope",
                           f"ask an admin for a key with --scope {scope}")
        return key

    @app.post("/v1/inspect", summary="Inspect one image; record its verdict unless record=false")
    def inspect(request: Request, x_api_key: KeyHeader, file: Annotated[UploadFile, File()],
                coil: Annotated[str | None, Form(description="the coil (or part) id the sheet belongs to")] = None,
                position: Annotated[float | None, Form(description="metres from the coil's head end (or a sheet "
                                                                   "index); needs coil")] = None,
                record: bool = True) -> dict:
        authorise(request, x_api_key, "record" if record else "score")
        try:
            place = place_from_fields(coil, position)
        except CoilError as exc:
            raise ApiError(422, "coil and position", str(exc), "send a valid coil id, and position in metres") \
                from None
        start = time.perf_counter()
        name = upload_name(file.filename or "unnamed")
        data = file.file.read(max_upload_bytes + 1)  # at most one byte over: enough to know it is too big
        try:
            check_upload_size(name, len(data), max_upload_bytes)
        except SteelScanError as exc:
            raise ApiError(413, exc.source, exc.reason, exc.fix) from None
        try:
            with slots.slot(line=True):  # the process's one inference queue: the line's sheets before the dashboard's
                verdict = engine.current().inspect((data, name))
        except SteelScanError as exc:
            if status_of(exc) == 422:
                metrics.images.labels("rejected").inc()
            raise
        sheet_id = log.record_inference(verdict, data, source="api", place=place) if record else None
        request.state.inference_id = sheet_id
        metrics.images.labels(verdict.label).inc()
        metrics.latency.observe(time.perf_counter() - start)
        sampled = log.sampled_reason(sheet_id) if sheet_id is not None else None
        return {"sheet_id": sheet_id, "recorded": record, "flagged": is_flagged(verdict, band, sampled),
                **_place_fields(place), "verdict": verdict.to_dict()}

    @app.get("/v1/sheets/{sheet_id}", summary="A recorded verdict and the sheet's current label")
    def sheet(request: Request, x_api_key: KeyHeader, sheet_id: int) -> dict:
        authorise(request, x_api_key, "read")
        try:
            verdict = log.verdict(sheet_id)
        except SteelScanError:
            raise ApiError(404, f"sheet {sheet_id}", "does not exist",
                           "use the sheet_id POST /v1/inspect returned") from None
        review = log.latest_review(verdict.image_sha256)
        label = ({"source": "model", "classes": list(verdict.classes_present), "reviewer": None, "decided_at": None}
                 if review is None else
                 {"source": "review", "classes": list(review.classes), "reviewer": review.reviewer,
                  "decided_at": review.decided_at.isoformat() + "Z", "decision": review.decision})
        return {"sheet_id": sheet_id, "flagged": is_flagged(verdict, band, log.sampled_reason(sheet_id)),
                **_place_fields(log.place_of(sheet_id)), "label": label, "verdict": verdict.to_dict()}

    @app.get("/v1/queue", summary="Sheets waiting for a reviewer")
    def queue(request: Request, x_api_key: KeyHeader, order: str = "uncertain",
              limit: Annotated[int, Query(ge=1, le=500)] = 20) -> dict:
        authorise(request, x_api_key, "read")
        if order not in ORDERS:
            raise ApiError(422, f"order {order!r}", "is unknown", f"use one of {', '.join(ORDERS)}")
        return {"waiting": waiting(log, band), "order": order,
                "sheets": [{"sheet_id": i.inference_id, "image": i.image_name, "defective": i.defective,
                            "margin": i.margin, "inspected_at": i.inspected_at.isoformat() + "Z",
                            "reasons": list(i.reasons)} for i in upcoming(log, band, order, limit)]}

    @app.get("/healthz", summary="Liveness: the model set loads and the review log answers (no key needed)")
    def healthz() -> dict:
        inspector = engine.current()
        try:
            log._read(lambda s: s.execute(text("select 1")))
        except SQLAlchemyError as exc:
            raise ApiError(503, log.display_url, f"does not answer ({type(exc).__name__})",
                           "check the database server and database_url") from None
        return {"status": "ok", "model_set": inspector.card.name, "model_version": inspector.card.version,
                "model_trained": inspector.card.trained, "device": inspector.device_label}

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    def prometheus(request: Request, x_api_key: KeyHeader) -> PlainTextResponse:
        authorise(request, x_api_key, "read")
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _place_fields(place: CoilPlace | None) -> dict:
    return {"coil": place.coil if place else None, "position": place.position if place else None}


def app_from_settings(settings, model_set: str | None = None) -> FastAPI:
    """The app on the settings' review log and the dashboard's active model set (or the one named)."""
    log = ReviewLog.from_settings(settings)
    engine = ActiveEngine(log, settings, model_set=model_set)
    engine.current()  # load the networks now: the first request should not wait, and a broken set stops start-up
    return create_app(engine, log, settings.uncertainty_band, settings.max_upload_bytes, docs=settings.api_docs,
                      slots=shared_slots(settings.inference_workers))
