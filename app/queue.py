"""Follow-up jobs: decided inside a transaction, enqueued on arq only after it commits."""

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from arq.constants import in_progress_key_prefix
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

# Due work (escalation steps, page deliveries) is woken by one job per kind and time bucket,
# which then claims every row due by then from PostgreSQL in batches.
DUE_BUCKET_MS = 10


@dataclass(frozen=True)
class JobSpec:
    function: str
    args: tuple[Any, ...]
    job_id: str
    defer_until: datetime | None = None
    # A wake-up shared by every row due in its bucket: if that job is already running (and may
    # have made its last claim), a follow-up is queued so the newly committed row is not missed.
    coalesce: bool = False


Enqueue = Callable[[Sequence[JobSpec]], Awaitable[None]]


def after_commit(session: AsyncSession, job: JobSpec) -> None:
    """Enqueue `job` once the session's transaction commits (never if it rolls back)."""
    session.info.setdefault("jobs", []).append(job)


def jobs_asked(session: AsyncSession) -> int:
    """How many jobs the session's transaction has asked for so far (a mark for `forget_jobs`)."""
    return len(session.info.get("jobs", []))


def forget_jobs(session: AsyncSession, mark: int) -> None:
    """Drop the jobs asked for after `mark`: the savepoint that asked for them rolled back."""
    del session.info.setdefault("jobs", [])[mark:]


def take_jobs(session: AsyncSession, mark: int = 0) -> list[JobSpec]:
    """The jobs the committed transaction asked for (those after `mark`, a `jobs_asked` mark,
    when only part of the work committed)."""
    jobs: list[JobSpec] = session.info.get("jobs", [])
    taken = jobs[mark:]
    del jobs[mark:]
    return taken


def due_work_job(function: str, due_at: datetime) -> JobSpec:
    """The wake-up of `function` for the time bucket holding `due_at` (deferred to its start)."""
    bucket = int(due_at.timestamp() * 1000) // DUE_BUCKET_MS
    start = datetime.fromtimestamp(bucket * DUE_BUCKET_MS / 1000, tz=UTC)
    return JobSpec(function, (), f"{function}:{bucket}", start, coalesce=True)


def fresh(job: JobSpec) -> JobSpec:
    """The same job under a new id of its own (never deduped against a queued or held one)."""
    return replace(job, job_id=f"{job.job_id}:{uuid.uuid4().hex[:8]}", coalesce=False)


def arq_enqueuer(pool: Any) -> Enqueue:
    """Enqueue on an arq pool; Redis trouble is logged, the sweeper re-arms from PostgreSQL."""

    async def enqueue(jobs: Sequence[JobSpec]) -> None:
        # A batch asks for the same bucket's wake-up many times: once is enough.
        for job in {job.job_id: job for job in jobs}.values():
            if job.coalesce:
                # Bucket ids are the same for every deployment; arq's job keys are not per queue.
                job = replace(job, job_id=f"{job.job_id}@{pool.default_queue_name}")
            try:
                queued = await pool.enqueue_job(
                    job.function, *job.args, _job_id=job.job_id, _defer_until=job.defer_until
                )
                if (
                    queued is None
                    and job.coalesce
                    and await pool.exists(in_progress_key_prefix + job.job_id)
                ):
                    follow_up = fresh(job)
                    await pool.enqueue_job(
                        job.function, _job_id=follow_up.job_id, _defer_until=job.defer_until
                    )
            except (ConnectionError, OSError, TimeoutError) as exc:
                log.warning(
                    "enqueue failed, the sweeper will re-arm it",
                    extra={"job_id": job.job_id, "error": str(exc)},
                )
                return
            except Exception as exc:  # redis raises its own hierarchy; never lose the commit
                log.warning(
                    "enqueue failed, the sweeper will re-arm it",
                    extra={"job_id": job.job_id, "error": repr(exc)},
                )
                return

    return enqueue
