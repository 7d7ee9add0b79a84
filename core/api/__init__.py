"""The HTTP API for line systems (FastAPI): `create_app` builds it, `steelscan api` serves it with uvicorn."""
