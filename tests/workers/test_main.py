"""The worker runs every job under the name it was queued with: names outlive deploys."""

from app.config import Settings
from app.events.delivery import EVENT_JOB
from app.integrations.inbox import INBOX_JOB
from app.paging.delivery import DELIVERIES_JOB, LEVEL_FAILED_JOB
from app.paging.wake import STEPS_DUE_JOB
from app.responders.slack import SLACK_REPLY_JOB
from app.store.timers import ACK_TIMEOUT_JOB, AUTO_RESOLVE_JOB
from workers.main import worker_settings


def test_every_job_name_the_app_enqueues_is_run_by_the_worker_and_none_was_renamed(
    settings: Settings,
) -> None:
    registered = {job.name for job in worker_settings(settings)["functions"]}
    enqueued = {
        STEPS_DUE_JOB,
        DELIVERIES_JOB,
        LEVEL_FAILED_JOB,
        ACK_TIMEOUT_JOB,
        AUTO_RESOLVE_JOB,
        EVENT_JOB,
        INBOX_JOB,
        SLACK_REPLY_JOB,
    }
    assert registered == enqueued
    # Jobs already queued in Redis carry these names: a rename would strand them.
    assert registered == {
        "escalation_steps_due",
        "deliveries_due",
        "level_failed",
        "ack_timeout",
        "auto_resolve",
        "deliver_event",
        "inbound_events_due",
        "slack_reply",
    }
