"""Prometheus metrics of this process."""

from prometheus_client import Counter, Gauge, Histogram

STEP_LATENESS = Histogram(
    "stairway_step_lateness_seconds",
    "Fire time minus due time of escalation steps.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
PAGES = Counter(
    "stairway_pages_total", "Notifications by provider and outcome.", ["provider", "outcome"]
)
DELIVERY_ATTEMPTS = Counter(
    "stairway_delivery_attempts_total", "Delivery attempts handed to a provider.", ["provider"]
)
SWEEPER_REARMS = Counter(
    "stairway_sweeper_rearms_total", "Overdue jobs re-armed from PostgreSQL.", ["kind"]
)
INCIDENTS = Gauge("stairway_incidents", "Incidents by status.", ["status"])
QUEUE_DEPTH = Gauge("stairway_queue_depth", "Jobs waiting in the arq queue.")
INBOUND_DEAD = Counter(
    "stairway_inbound_dead",
    "Inbound events set aside as dead after failing every attempt to apply them.",
)
INBOUND_DEAD_WAITING = Gauge(
    "stairway_inbound_dead_events", "Dead inbound events waiting for an admin to retry or discard."
)
