"""Airflow's own backfill over a month, run by the scheduler of `caravan up`.

Starts `caravan up` (Airflow standalone on the simulator) in a fresh CARAVAN_HOME,
backfills `ingest_web_analytics` over 30 days with `airflow backfill create`,
checks each day's raw partition against the simulator's records, checks that every
server `caravan up` started listens on 127.0.0.1 only, backfills a few of the days
again (`--reprocess-behavior completed`) and checks that the data is the same, then
stops `caravan up` with SIGTERM and checks nothing is left running.

What Airflow 3.3 does here (models/backfill.py, jobs/scheduler_job_runner.py):
- `--from-date`/`--to-date` select runs by logical date, inclusive; for the daily
  CronDataIntervalTimetable that is the data interval's start, so the run for
  `ds=D` is selected by D (its run_id is named after run_after, D + 1).
- Backfill runs of a paused DAG stay queued: the DAG must be unpaused, and with
  catchup=False the scheduler then adds one run of its own, for the latest
  interval (outside the window here).
- A backfill is limited by its own `max_active_runs` (default 10), not the DAG's.
- Reprocessing a completed day clears the existing run and runs it again: the
  run_id stays the same, the tasks' try_number goes up.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from caravan.airflow_env import ADMIN_USER as USER
from caravan.airflow_env import airflow_environ
from caravan.settings import Settings
from caravan.simulator.files import web_events
from caravan.simulator.world import World
from caravan.webserver import URL
from tests.ports import answers, free_port
from tests.processes import command_line

pytestmark = pytest.mark.e2e

# Each attempt waits longer (2 s, 4 s, …): the scheduler and the DAG processor write often
# while the DAGs are new.
LOCKED_ATTEMPTS = 8
DAG_ID = "ingest_web_analytics"  # the lightest ingest DAG: one entity, one file per day
DAYS = [date(2026, 10, 1) + timedelta(days=n) for n in range(30)]
RERUN_DAYS = DAYS[13:15]
SEED = 42
PORT = urllib.parse.urlsplit(URL).port
# The raw gates run one at a time (the one-slot warehouse pool); a task process starts
# with GX already imported (caravan.airflow_env.TASK_PRELOAD), so a gate holds the slot
# for about a second, and a few runs at once keep both cores busy.
MAX_ACTIVE_RUNS = 3
BIN = Path(sys.executable).parent
STARTUP_TIMEOUT = 300
BACKFILL_TIMEOUT = 900
STOP_TIMEOUT = 90
POLL_SECONDS = 3
# The ports Airflow's own log servers would take (the worker's and the triggerer's).
AIRFLOW_LOG_PORTS = {8793, 8794}
COMPONENTS_HEALTH = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def clean_environ(home: Path) -> dict[str, str]:
    """The caller's environment without its Airflow or Caravan settings (connections
    included: the simulator serves the sources). Caravan's log server on a free port, not
    Airflow's own log servers' 8793: a listener there would be one of theirs."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW_", "CARAVAN_"))
    }
    return {
        **env,
        "CARAVAN_HOME": str(home),
        "CARAVAN_SEED": str(SEED),
        "CARAVAN_LOG_SERVER_PORT": str(free_port()),
    }


def utc(timestamp: str | None) -> datetime | None:
    return datetime.fromisoformat(timestamp) if timestamp else None


def run_ds(run: dict) -> date:
    """The day a run ingests: its data interval's start (caravan.dag_support.partition_ds)."""
    return utc(run["data_interval_start"]).date()


class Api:
    """Airflow's REST API with a token for `caravan up`'s admin login."""

    def __init__(self, password: str) -> None:
        body = {"username": USER, "password": password}
        self.token = self._call("POST", "/auth/token", body)["access_token"]

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{URL}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        if getattr(self, "token", None):
            request.add_header("Authorization", f"Bearer {self.token}")
        # On two cores under the suite's load the API server has been seen not to answer a
        # GET within 30 s: a GET, which changes nothing, is asked again on a new connection.
        tries = 3 if method == "GET" else 1
        for attempt in range(1, tries + 1):
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return json.load(response)
            except (TimeoutError, urllib.error.URLError) as error:
                timed_out = isinstance(error, TimeoutError) or isinstance(
                    getattr(error, "reason", None), TimeoutError
                )
                if not timed_out or attempt == tries:
                    raise

    def get(self, path: str, **params) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self._call("GET", f"{path}{query}")

    def patch(self, path: str, body: dict) -> dict:
        return self._call("PATCH", path, body)

    def put(self, path: str, body: dict | None = None) -> dict:
        return self._call("PUT", path, body)


@dataclass
class CaravanUp:
    home: Path
    process: subprocess.Popen
    env: dict[str, str]
    api: Api | None = None
    stopped: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    attempts: list[int] = field(default_factory=list)  # how often each CLI command ran

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def log_tail(self, chars: int = 6000) -> str:
        parts = []
        for path in (self.home / "up.out", self.home / "logs" / "standalone.log"):
            if path.exists():
                parts.append(f"--- {path}\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)

    def wait_until_up(self) -> None:
        """Until `caravan up` prints the login (its API server answered), then log in and
        wait for the DAG processor to have stored the DAG."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        out = self.home / "up.out"
        while "login:" not in (out.read_text() if out.exists() else ""):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"`caravan up` did not come up:\n{self.log_tail()}")
            time.sleep(1)
        password = json.loads((self.settings.airflow_home / "passwords.json").read_text())[USER]
        assert f"login:      {USER} / {password}" in out.read_text()
        self.api = Api(password)
        while True:
            try:
                self.api.get(f"/api/v2/dags/{DAG_ID}")
                return
            except urllib.error.HTTPError as error:
                if error.code != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(1)

    def airflow(self, *args: str, before_retry: Callable[[], None] = lambda: None) -> str:
        """Run Airflow's CLI against this Airflow home (as `caravan up`'s processes see it).

        On SQLite, a CLI transaction that read before the scheduler wrote cannot upgrade to
        a write lock: SQLite says "database is locked" at once, whatever the busy timeout.
        The command is run again, as a person would (README, Troubleshooting), after
        `before_retry` has undone what the failed try committed.
        """
        env = {**self.env, **airflow_environ(self.settings)}
        for attempt in range(1, LOCKED_ATTEMPTS + 1):
            result = subprocess.run(
                [str(BIN / "airflow"), *args], env=env, capture_output=True, text=True, timeout=180
            )
            output = result.stdout + result.stderr
            if result.returncode == 0 or "database is locked" not in output:
                break
            time.sleep(2 * attempt)
            before_retry()
        self.attempts.append(attempt)
        assert result.returncode == 0, f"airflow {' '.join(args)} failed:\n{output[-8000:]}"
        return output

    def dag_runs(self) -> list[dict]:
        found = self.api.get(f"/api/v2/dags/{DAG_ID}/dagRuns", limit=100)
        assert found["total_entries"] <= 100
        return found["dag_runs"]

    def task_instances(self, run_id: str) -> list[dict]:
        quoted = urllib.parse.quote(run_id, safe="")
        path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quoted}/taskInstances"
        return self.api.get(path)["task_instances"]

    def backfills(self) -> list[dict]:
        return sorted(self.api.get("/api/v2/backfills", dag_id=DAG_ID)["backfills"],
                      key=lambda b: b["id"])  # fmt: skip

    def create_backfill(self, days: list[date], *options: str) -> dict:
        before = {b["id"] for b in self.backfills()}

        def cancel_orphans() -> None:
            # Airflow commits the backfill before creating its runs, and removes it after a
            # lock error met while creating them, not after one met at the final commit:
            # that try leaves an active backfill, which refuses the next try ("Another
            # backfill is running") until the scheduler retires it two minutes later.
            for orphan in self.backfills():
                if orphan["id"] not in before and not orphan["completed_at"]:
                    self.api.put(f"/api/v2/backfills/{orphan['id']}/cancel")

        self.airflow(
            "backfill", "create", "--dag-id", DAG_ID,
            "--from-date", days[0].isoformat(), "--to-date", days[-1].isoformat(),
            "--max-active-runs", str(MAX_ACTIVE_RUNS), *options,
            before_retry=cancel_orphans,
        )  # fmt: skip
        (created,) = [
            b for b in self.backfills() if b["id"] not in before and not b["completed_at"]
        ]
        return created

    def problems(self, runs: list[dict]) -> str:
        """The tasks of `runs` that did not succeed, with the tail of their logs."""
        lines = []
        for run in runs:
            for ti in self.task_instances(run["dag_run_id"]):
                if ti["state"] == "success":
                    continue
                lines.append(f"{run['dag_run_id']} {ti['task_id']}: {ti['state']}")
                log = (
                    self.settings.logs_dir / "airflow" / f"dag_id={DAG_ID}"
                    / f"run_id={run['dag_run_id']}" / f"task_id={ti['task_id']}"
                    / f"attempt={max(ti['try_number'], 1)}.log"
                )  # fmt: skip
                if ti["state"] in ("failed", "up_for_retry") and log.exists():
                    lines.append(log.read_text(errors="replace")[-4000:])
        return "\n".join(lines)

    def wait_for_backfill(
        self, backfill: dict, days: list[date], since: datetime, complete: bool = True
    ) -> dict:
        """Until the backfill's runs for `days` succeeded after `since` and, if `complete`,
        the scheduler marked the backfill complete (it looks every 30 s, and only then
        accepts another backfill of the DAG); fails at the first failed run."""
        deadline = time.monotonic() + BACKFILL_TIMEOUT
        while True:
            runs = {
                run_ds(r): r
                for r in self.dag_runs()
                if r["run_type"] == "backfill" and run_ds(r) in days
            }
            failed = [r for r in runs.values() if r["state"] == "failed"]
            if failed:
                pytest.fail(f"backfill runs failed:\n{self.problems(failed)}")
            done = sorted(runs) == days and all(
                r["state"] == "success" and utc(r["end_date"]) > since for r in runs.values()
            )
            if done and not complete:
                return runs
            if done and self.api.get(f"/api/v2/backfills/{backfill['id']}")["completed_at"]:
                return runs
            if time.monotonic() > deadline:
                waiting = [r for r in runs.values() if r["state"] != "success"]
                pytest.fail(
                    f"backfill {backfill['id']} not done after {BACKFILL_TIMEOUT}s:"
                    f" {sorted((str(d), r['state']) for d, r in runs.items())}\n"
                    f"{self.problems(waiting)}"
                )
            time.sleep(POLL_SECONDS)

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def started_here(self) -> list[psutil.Process]:
        """Processes with this CARAVAN_HOME in their environment (orphans included)."""
        found = []
        for process in psutil.process_iter():
            try:
                if (
                    process.uids().real == os.getuid()
                    and process.environ().get("CARAVAN_HOME") == self.env["CARAVAN_HOME"]
                ):
                    found.append(process)
            except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
                pass
        return found

    def stop(self) -> list[str]:
        """SIGTERM `caravan up` and wait for it; returns the processes it left running
        (which are then ended, so a failed test leaves nothing behind either)."""
        if self.stopped:
            return []
        self.stopped = True
        began = time.monotonic()
        processes = {p.pid: p for p in self.descendants()}
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        processes.update({p.pid: p for p in self.started_here()})
        grace = time.monotonic() + 5  # a process may still be on its way out
        while (left := alive(processes.values())) and time.monotonic() < grace:
            time.sleep(0.5)
        self.timings["stop"] = time.monotonic() - began
        described = []
        for process in left:
            try:
                described.append(f"{process.pid} {command_line(process)[:160]}")
                process.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(left, timeout=10)
        return described


def alive(processes) -> list[psutil.Process]:
    living = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                living.append(process)
        except psutil.NoSuchProcess:
            pass
    return living


@pytest.fixture
def caravan_up(tmp_path) -> Iterator[CaravanUp]:
    if answers(PORT):
        pytest.skip(
            f"port {PORT} is in use: `caravan up` serves Airflow only there"
            " (AIRFLOW__API__PORT is fixed in caravan.airflow_env)"
        )
    home = tmp_path / "caravan_home"
    home.mkdir()
    env = clean_environ(home)
    began = time.monotonic()
    with (home / "up.out").open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "caravan"), "up", "--start", DAYS[0].isoformat(), "--days", str(len(DAYS))],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # signals come from this test only, never the terminal
        )
    server = CaravanUp(home=home, process=process, env=env)
    try:
        server.wait_until_up()
        server.timings["startup"] = time.monotonic() - began
        yield server
    finally:
        server.stop()
        print(f"\ntimings (s): { {k: round(v) for k, v in server.timings.items()} }")


def manifest(home: Path, day: date) -> dict:
    partition = home / "lake" / "raw" / "web_analytics" / "events" / f"ds={day}"
    return json.loads((partition / "_manifest.json").read_text())


def check_files(home: Path, day: date, published: dict) -> None:
    """The partition's files are the ones its manifest lists, byte for byte and row for row."""
    partition = home / "lake" / "raw" / "web_analytics" / "events" / f"ds={day}"
    listed = {f["path"] for f in published["files"]} | {"_manifest.json"}
    assert {p.name for p in partition.iterdir()} == listed, day
    for entry in published["files"]:
        data = (partition / entry["path"]).read_bytes()
        assert len(data) == entry["bytes"], (day, entry["path"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], (day, entry["path"])
        text = gzip.decompress(data) if entry["path"].endswith(".gz") else data
        assert len(text.splitlines()) == entry["rows"], (day, entry["path"])


def listening(processes: list[psutil.Process]) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket of `processes`."""
    found = set()
    for process in processes:
        try:
            connections = process.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        found |= {c.laddr[:2] for c in connections if c.status == psutil.CONN_LISTEN}
    return found


def check_every_server_listens_on_127_0_0_1_only(server: CaravanUp, task_log: Path) -> None:
    """What `caravan up` promises with the default CARAVAN_BIND_HOST (caravan.webserver):
    every component up, every server of theirs on 127.0.0.1, Airflow's own log servers
    not started, and Caravan's log server serving `task_log` (a file under the log folder)
    the way the API server fetches a running task's log."""
    health = server.api.get("/api/v2/monitor/health")
    assert all(health[part]["status"] == "healthy" for part in COMPONENTS_HEALTH), health
    log_port = server.settings.log_server_port
    sockets = listening(server.descendants())
    assert {address for address, _ in sockets} == {"127.0.0.1"}, sockets
    assert {PORT, log_port} <= {port for _, port in sockets}, sockets
    assert not {port for _, port in sockets} & AIRFLOW_LOG_PORTS, sockets
    log_server = [p for p in server.descendants() if "serve-logs" in command_line(p)]
    assert listening(log_server) == {("127.0.0.1", log_port)}
    # Airflow's own log server, had the scheduler or the triggerer started one, would want
    # Caravan's port (airflow_env sets theirs to it): the one that lost would end at once,
    # unseen by the sockets above. It says it starts, whichever wins.
    assert "Starting log server on" not in (server.settings.logs_dir / "standalone.log").read_text()

    # The API server's way to a running task's log: http://<hostname>:<port>, with a token
    # signed by the key every component shares.
    env = {**server.env, **airflow_environ(server.settings)}
    relative = task_log.relative_to(env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]).as_posix()
    code = (
        "from airflow.utils.net import get_hostname\n"
        "from airflow.utils.log.file_task_handler import _fetch_logs_from_service\n"
        f"url = f'http://{{get_hostname()}}:{log_port}/log/{relative}'\n"
        f"response = _fetch_logs_from_service(url, {relative!r})\n"
        "print(url, response.status_code, len(response.text), response.text == open("
        f"{str(task_log)!r}).read())"
    )
    fetched = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180
    )
    assert fetched.returncode == 0, fetched.stderr[-3000:]
    url, status, size, same = fetched.stdout.split()[-4:]
    assert (url, status, same) == (f"http://127.0.0.1:{log_port}/log/{relative}", "200", "True")
    assert int(size) > 0


def max_overlap(runs: list[dict]) -> int:
    """The most runs that were running at the same instant."""
    events = sorted(
        [(utc(r["start_date"]), 1) for r in runs] + [(utc(r["end_date"]), -1) for r in runs]
    )  # at a tie, an end (-1) sorts before a start
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


def test_airflow_backfill_over_30_days_and_rerun_leave_the_same_data(caravan_up):
    server = caravan_up
    home = server.home
    assert Settings.from_env(server.env).lake_url == f"file://{home / 'lake'}"
    world = World(seed=SEED)
    truth = {day: len(web_events(world, day)) for day in DAYS}

    # --- the backfill: created while the DAG is paused, run once it is unpaused ---------
    began = time.monotonic()
    since = datetime.now(UTC)
    backfill = server.create_backfill(DAYS)
    assert backfill["max_active_runs"] == MAX_ACTIVE_RUNS
    queued = [r for r in server.dag_runs() if r["run_type"] == "backfill"]
    assert sorted(run_ds(r) for r in queued) == DAYS
    assert all(utc(r["logical_date"]).date() == run_ds(r) for r in queued)
    assert {r["state"] for r in queued} == {"queued"}
    assert server.api.get(f"/api/v2/dags/{DAG_ID}")["is_paused"]  # `caravan up`: all paused
    server.api.patch(f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    runs = server.wait_for_backfill(backfill, DAYS, since)
    server.timings["backfill"] = time.monotonic() - began

    assert max_overlap(list(runs.values())) <= MAX_ACTIVE_RUNS
    # catchup=False: the scheduler added no run in the window, only the latest interval's.
    others = [r for r in server.dag_runs() if r["run_type"] != "backfill"]
    assert {r["run_type"] for r in others} <= {"scheduled"}
    assert [r["dag_run_id"] for r in others if run_ds(r) <= DAYS[-1]] == []
    assert len(others) <= 2  # one, two if the test runs across midnight (UTC)

    published = {day: manifest(home, day) for day in DAYS}
    for day, found in published.items():
        assert found["ds"] == day.isoformat()
        assert found["rows"] == truth[day], day
        assert found["delivered"] == found["rows"] + found["quarantined"], day
        assert found["run_id"] == runs[day]["dag_run_id"], day
        check_files(home, day, found)

    # --- the servers: on this machine only -------------------------------------------
    first_log = (
        server.settings.logs_dir / "airflow" / f"dag_id={DAG_ID}"
        / f"run_id={runs[DAYS[0]]['dag_run_id']}" / "task_id=extract" / "attempt=1.log"
    )  # fmt: skip
    check_every_server_listens_on_127_0_0_1_only(server, first_log)

    # --- the same days again: Airflow clears their runs and runs them again --------------
    began = time.monotonic()
    since = datetime.now(UTC)
    rerun = server.create_backfill(RERUN_DAYS, "--reprocess-behavior", "completed")
    assert rerun["reprocess_behavior"] == "completed"
    rerun_runs = server.wait_for_backfill(rerun, RERUN_DAYS, since, complete=False)
    server.timings["rerun"] = time.monotonic() - began

    for day in DAYS:
        again = manifest(home, day)
        if day not in RERUN_DAYS:
            assert again == published[day], day  # untouched
            continue
        first = published[day]
        # The same data: rows, counts, and every file byte for byte.
        for key in ("rows", "delivered", "quarantined", "files", "schema"):
            assert again[key] == first[key], (day, key)
        check_files(home, day, again)
        # Published again, by the same run (cleared, not replaced: the run_id stays).
        assert utc(again["created_at"]) > utc(first["created_at"]), day
        assert again["run_id"] == first["run_id"] == rerun_runs[day]["dag_run_id"], day
        # Cleared and run again: every task's try_number went up by one, together.
        tries = {ti["task_id"]: ti["try_number"] for ti in server.task_instances(again["run_id"])}
        assert set(tries) == {"extract", "gate", "publish"}, day
        (try_number,) = set(tries.values())
        creates = server.attempts[-1]
        if creates == 1:
            assert try_number == 2, (day, tries)
        else:
            # `backfill create` met a locked database and was run again (`CaravanUp.airflow`).
            # On SQLite each day's savepoint commits when released, so the failed try had
            # already cleared its first days, and Airflow's clean-up of that try deletes
            # their runs: the next try creates them anew (the same run_id, at try 1). Where
            # that clean-up failed too, each later try clears the day once more.
            assert 1 <= try_number <= 1 + creates, (day, tries, creates)

    # --- stop: SIGTERM, and nothing `caravan up` started is left running ------------------
    assert server.stop() == []
    assert server.process.returncode == 0
    assert not answers(PORT)
