"""Waking the escalation steps: a job woken at the first step due in a 100 ms window claims
every step due by then, and stays to claim the window's later steps as each comes due.
"""

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from app.queue import JobSpec, due_work_job

STEPS_DUE_JOB = "escalation_steps_due"
# One wake-up per window of due times rather than per 10 ms bucket: an arq job costs ~2 ms.
WINDOW_MS = 100


def step_wakeup(due_at: datetime) -> JobSpec:
    """The wake-up of the batch step job for the bucket holding `due_at`."""
    return due_work_job(STEPS_DUE_JOB, due_at)


def window_end(at: datetime) -> datetime:
    """The end of the window holding `at`: a woken job claims until then."""
    end = (int(at.timestamp() * 1000) // WINDOW_MS + 1) * WINDOW_MS
    return datetime.fromtimestamp(end / 1000, tz=UTC)


def wakeups(due_times: Iterable[datetime]) -> list[JobSpec]:
    """The wake-ups for steps due at these instants: one at the first of each window."""
    first: dict[int, datetime] = {}
    for due_at in due_times:
        window = int(due_at.timestamp() * 1000) // WINDOW_MS
        if window not in first or due_at < first[window]:
            first[window] = due_at
    return [step_wakeup(due_at) for due_at in first.values()]


def sweep_wakeup(at: datetime) -> JobSpec:
    """An immediate wake-up under a fresh id (never deduped against a job a dead worker held)."""
    return JobSpec(STEPS_DUE_JOB, (), f"{STEPS_DUE_JOB}:sweep{at.timestamp():.3f}")


def rearm_steps(due_times: Sequence[datetime], *, now: datetime) -> list[JobSpec]:
    """The wake-ups pending steps need: one now for all overdue ones, one per later window."""
    later = {
        step_wakeup(due_at).job_id: step_wakeup(due_at) for due_at in due_times if due_at > now
    }
    overdue = [sweep_wakeup(now)] if any(due_at <= now for due_at in due_times) else []
    return [*overdue, *later.values()]
