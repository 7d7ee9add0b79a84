"""The sinks the settings ask for (mqtt_url, webhook_url + webhook_secret, opcua_endpoint)."""

from __future__ import annotations

from core.delivery.sinks import MqttSink, WebhookSink


def build_sinks(settings, db=None, client_id: str | None = None) -> list:
    """One sink object per sink set, in a fixed order (mqtt, webhook, opcua); [] when none is set. `db`: the
    review log's database, which the OPC UA server reads for clients catching up (GetResultsSince)."""
    from core.delivery.loop import client_id as default_client_id

    sinks: list = []
    if settings.mqtt_url:
        line = settings.line_name
        sinks.append(MqttSink(settings.mqtt_url, line, client_id or default_client_id(line)))
    if settings.webhook_url:
        sinks.append(WebhookSink(settings.webhook_url, settings.webhook_secret))
    if settings.opcua_endpoint:
        from core.delivery.opcua import OpcUaSink

        sinks.append(OpcUaSink(settings.opcua_endpoint, settings.line_name, db))
    return sinks
