"""Prometheus metrics of one API process (its own registry, so several apps in one test process never mix)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ApiMetrics:
    def __init__(self, queue_length: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.images = Counter("steelscan_api_images", "Images inspected through the API, by result",
                              ["result"], registry=self.registry)
        self.latency = Histogram("steelscan_api_inspect_seconds", "Time to answer POST /v1/inspect",
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30), registry=self.registry)
        self.requests = Counter("steelscan_api_requests", "API requests by route and status",
                                ["route", "status"], registry=self.registry)
        self.errors = Counter("steelscan_api_errors", "API answers with status 4xx/5xx", ["status"],
                              registry=self.registry)
        Gauge("steelscan_queue_waiting", "Sheets waiting in the review queue", registry=self.registry
              ).set_function(queue_length)
