"""The job queue: jobs run by name, persist until a worker takes them, retry."""

import time
from pathlib import Path

import pytest

from metacrm.app import build_instance
from metacrm.platform.hooks import hookimpl
from metacrm.platform.jobs import JobQueue, JobSpec
from tests.conftest import make_config

CALLS: list = []


def _record(instance, **kwargs):
    CALLS.append(kwargs)
    Path(kwargs["marker"]).write_text("ran")


def _flaky(instance, marker):
    path = Path(marker)
    attempts = int(path.read_text()) if path.exists() else 0
    path.write_text(str(attempts + 1))
    if attempts < 2:
        raise RuntimeError("not yet")


class _Jobs:
    @hookimpl
    def register_jobs(self):
        return [JobSpec("test.record", _record), JobSpec("test.flaky", _flaky, retries=3, retry_delay=0)]


def _instance(tmp_path, **extra):
    instance = build_instance(make_config(tmp_path, "sqlite", **extra), load_entry_points=False)
    instance.pm.register(_Jobs())
    return instance


def test_jobs_from_plugins_are_registered_by_name(tmp_path):
    queue = JobQueue(_instance(tmp_path))
    assert {"test.record", "test.flaky", "recycle.purge"} <= set(queue.names())


def test_immediate_mode_runs_a_job_where_it_is_enqueued(tmp_path):
    queue = JobQueue(_instance(tmp_path, JOBS_IMMEDIATE=True))
    marker = tmp_path / "immediate"
    queue.enqueue("test.record", marker=str(marker), value=42)
    assert marker.read_text() == "ran"


def _run_consumer(queue: JobQueue, until, timeout: float = 20.0) -> None:
    consumer = queue.consumer(workers=1)
    consumer.start()
    try:
        deadline = time.time() + timeout
        while time.time() < deadline and not until():
            time.sleep(0.1)
    finally:
        consumer.stop(graceful=True)


def test_a_job_waits_in_storage_until_a_worker_runs_it(tmp_path):
    producer = JobQueue(_instance(tmp_path))
    marker = tmp_path / "later"
    producer.enqueue("test.record", marker=str(marker))
    assert not marker.exists()
    # A different process would build its own queue from the same config.
    worker = JobQueue(_instance(tmp_path))
    assert len(worker.huey) == 1
    _run_consumer(worker, marker.exists)
    assert marker.read_text() == "ran"


def test_a_failing_job_is_retried_until_it_succeeds(tmp_path):
    queue = JobQueue(_instance(tmp_path))
    marker = tmp_path / "flaky"
    queue.enqueue("test.flaky", marker=str(marker))
    _run_consumer(queue, lambda: marker.exists() and marker.read_text() == "3")
    assert marker.read_text() == "3"


def test_registering_a_job_name_twice_is_refused(tmp_path):
    queue = JobQueue(_instance(tmp_path))
    with pytest.raises(ValueError):
        queue.register(JobSpec("test.record", _record))
