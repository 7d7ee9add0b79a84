"""Serve the HTTP API for line systems (FastAPI under uvicorn).

    steelscan api [--host 127.0.0.1] [--port 8000] [--model-set NAME|DIR]

Routes: POST /v1/inspect, GET /v1/sheets/{id}, GET /v1/queue, GET /healthz, GET /metrics; docs at /docs when the
setting api_docs is on (off by default).
Keys: `steelscan keys add NAME --scope record`.
"""

from __future__ import annotations

import argparse
import sys

from core.contract.errors import SteelScanError
from core.contract.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="steelscan api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to listen on every interface")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model-set", help="default: the dashboard's active model set")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    args = parser.parse_args(argv)
    import uvicorn

    from core.api.app import app_from_settings

    try:
        app = app_from_settings(load_settings(), args.model_set)
    except SteelScanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # One worker process: the model set is loaded once; FastAPI runs inspections in its thread pool.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
