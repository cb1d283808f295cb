"""The simulator ends with the process that started it, even when that one is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil

from tests.ports import answers

# A parent as `caravan run` and `caravan demo` are: the runner's `embedded_sources` starts
# the simulator, then it works (here: sleeps) until it is killed.
PARENT = textwrap.dedent(
    """
    import sys, time
    from caravan.runner import embedded_sources
    from caravan.settings import Settings

    settings = Settings.from_env({"CARAVAN_HOME": sys.argv[1]})
    with embedded_sources(settings, ["2026-11-01"]) as simulated:
        print("serving" if simulated else "not simulated", flush=True)
        time.sleep(300)
    """
)
GONE_WITHIN_SECONDS = 5


def clean_environ(home: str) -> dict[str, str]:
    """No Airflow connections (so the simulator serves every source) nor Caravan settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "CARAVAN_"))}
    return {**env, "CARAVAN_HOME": home}


def listening_ports(process: psutil.Process) -> set[int]:
    return {
        c.laddr.port for c in process.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN
    }


def gone(process: psutil.Process) -> bool:
    """Ended: no such process, or a zombie nobody has reaped yet (its sockets are closed)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_sigkilled_runner_leaves_no_simulator_and_no_port_behind(tmp_path):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path)],
        env=clean_environ(str(tmp_path)),
        stdout=subprocess.PIPE,
        text=True,
    )
    started: list[psutil.Process] = []
    try:
        assert parent.stdout.readline() == "serving\n"
        started += psutil.Process(parent.pid).children()
        [simulator] = started
        assert "caravan.simulator" in simulator.cmdline()
        ports = listening_ports(simulator)
        assert len(ports) == 4  # Google Ads, Meta, CRM, issue tracker
        assert all(answers(port, timeout=2) for port in ports)

        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + GONE_WITHIN_SECONDS
        while not gone(simulator) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gone(simulator), f"simulator (pid {simulator.pid}) outlived its parent"
        assert not any(answers(port, timeout=2) for port in ports)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
        for process in started:  # only if it outlived its parent: the test failed
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass


def test_a_simulator_whose_parent_has_already_ended_does_not_serve():
    """The race between starting it and its parent dying: the pid it was given is not its
    parent's (here: this test's parent's), so it stops at once instead of serving."""
    result = subprocess.run(
        [sys.executable, "-m", "caravan.simulator", "serve", "--parent-pid", str(os.getppid())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""  # no "listening on" line: it never served
    assert f"the parent process {os.getppid()} has ended: not serving" in result.stderr
