"""One local Spark session for the whole test run (starting the JVM is the slow part)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from spark_jobs.common.session import get_session


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = get_session("caravan-tests")
    yield session
    session.stop()
