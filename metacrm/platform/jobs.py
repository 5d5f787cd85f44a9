"""The job queue: background and scheduled work on huey.

Embedded default: huey's SQLite storage in the data folder (``jobs.db``).
With ``METACRM_REDIS_URL`` set: Redis, so any number of app hosts and
``metacrm worker`` processes share one queue. Jobs are stored before they run,
so nothing is lost when a worker restarts; failures retry with backoff.

Parts contribute jobs through the ``register_jobs`` hook as :class:`JobSpec`
objects; a job is identified by its name, so the process that enqueues and
the worker that runs it only need the same plugins installed. A job function
receives the :class:`~metacrm.platform.instance.Instance` first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huey import RedisHuey, SqliteHuey, crontab, signals

from metacrm.platform.caches import CacheSlot
from metacrm.platform.errors import NotFound

log = logging.getLogger("metacrm.jobs")

__all__ = ["JobSpec", "JobQueue", "crontab"]


@dataclass(frozen=True)
class JobSpec:
    name: str  # unique, dotted: "recycle.purge"
    function: Callable[..., Any]  # function(instance, **kwargs)
    retries: int = 3
    retry_delay: int = 10  # seconds before the first retry…
    retry_backoff: float = 2.0  # …multiplied by this for each further one
    schedule: Any = None  # a huey crontab for periodic jobs (they take no kwargs)


class JobQueue:
    def __init__(self, instance):
        config = instance.config
        self.instance = instance
        if config.get("JOBS_IMMEDIATE"):
            # Tests: run each job synchronously in the enqueuing call.
            self.huey = SqliteHuey("metacrm", immediate=True, utc=True)
        elif config.get("REDIS_URL"):
            self.huey = RedisHuey("metacrm", url=config["REDIS_URL"], utc=True)
        else:
            path = Path(config["DATA_DIR"]) / "jobs.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            self.huey = SqliteHuey("metacrm", filename=str(path), utc=True)
        self._tasks: dict[str, Any] = {}
        for specs in instance.hook.register_jobs():
            for spec in specs:
                self.register(spec)
        self.huey.signal(signals.SIGNAL_ERROR)(self._log_error)

    def register(self, spec: JobSpec) -> None:
        if spec.name in self._tasks:
            raise ValueError(f"job {spec.name!r} is registered twice")
        instance = self.instance

        def run(**kwargs):
            return spec.function(instance, **kwargs)

        options = {
            "retries": spec.retries,
            "retry_delay": spec.retry_delay,
            "retry_backoff": spec.retry_backoff,
            "name": spec.name,
        }
        if spec.schedule is not None:
            self._tasks[spec.name] = self.huey.periodic_task(spec.schedule, **options)(run)
        else:
            self._tasks[spec.name] = self.huey.task(**options)(run)

    def names(self) -> list[str]:
        return sorted(self._tasks)

    def enqueue(self, name: str, *, delay: float | None = None, **kwargs):
        """Queue job ``name`` (after ``delay`` seconds); returns huey's result handle."""
        task = self._tasks.get(name)
        if task is None:
            raise NotFound(f"no job {name!r}")
        if delay:
            return task.schedule(kwargs=kwargs, delay=delay)
        return task(**kwargs)

    def run_now(self, name: str, **kwargs):
        """Run a job's function in this process (for `metacrm` verbs and tests)."""
        return self._tasks[name].call_local(**kwargs)

    def consumer(self, workers: int = 2):
        return self.huey.create_consumer(workers=workers, worker_type="thread", periodic=True, check_worker_health=True)

    @staticmethod
    def _log_error(signal, task, exc=None):
        log.error("job %s (%s) failed: %r", task.name, task.id, exc)


JOB_QUEUE: CacheSlot[JobQueue] = CacheSlot("jobs")


def job_queue(instance) -> JobQueue:
    """The instance's queue, built on first use."""
    return instance.caches.get_or_build(JOB_QUEUE, lambda: JobQueue(instance))
