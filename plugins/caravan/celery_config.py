"""The Celery worker's configuration (`[celery] celery_config_options`): Airflow's default,
and the modules a task costs seconds to import, imported once by the worker.

A Celery worker runs each task in a fork of one of its pool processes, and the pool
processes are forks of the worker: what the worker imports at start (Celery's `imports`,
before it starts the pool) every task inherits, as the LocalExecutor's tasks inherit
what its forkserver preloads (airflow_env.TASK_PRELOAD). A raw gate on the Celery worker
otherwise spent about 10 s importing GX, most of it holding the warehouse pool.

Imported by every Airflow component of the deployment (the scheduler's CeleryExecutor
reads it too), so it imports nothing heavy itself: only the worker imports `imports`.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

from caravan.airflow_env import TASK_PRELOAD

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": TASK_PRELOAD}
