"""Delivery to the plant's systems (issue 35): the outbox the review log writes, the sinks (MQTT, webhook, OPC UA)
and the loop `steelscan deliver` runs. No streamlit here, and nothing heavy at import: paho-mqtt and asyncua load
only when a sink opens."""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Outbox": "core.delivery.outbox",
    "DeliverOptions": "core.delivery.loop",
    "Deliverer": "core.delivery.loop",
    "build_sinks": "core.delivery.config",
    "sink_states": "core.delivery.status",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'core.delivery' has no attribute {name!r}; valid: {', '.join(__all__)}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
