"""Prometheus metrics, one registry per process (each server worker reports its own)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "headwater_events_accepted", "Events stored.", registry=self.registry
        )
        self.duplicates = Counter(
            "headwater_events_duplicate",
            "Events already stored (same dedup key).",
            registry=self.registry,
        )
        self.rejected = Counter(
            "headwater_events_rejected",
            "Items or groups quarantined, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.refused = Counter(
            "headwater_events_refused",
            "Events not stored, content included: reason consent or suppressed (issue 6).",
            ["reason"],
            registry=self.registry,
        )
        self.consents = Counter(
            "headwater_consents",
            "Consent records received, by outcome: stored, duplicate or rejected.",
            ["outcome"],
            registry=self.registry,
        )
        self.requests = Histogram(
            "headwater_request_seconds",
            "HTTP request latency, by route and status.",
            ["route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.batch_events = Histogram(
            "headwater_writer_batch_events",
            "Events (and rejections) committed per transaction.",
            registry=self.registry,
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
        )
        self.queue_depth = Gauge(
            "headwater_writer_queue_events",
            "Events waiting for the writer.",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


METRICS = Metrics()
