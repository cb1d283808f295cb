"""`python -m caravan.simulator serve`: run the Google Ads, Meta, CRM and issue tracker APIs
until SIGTERM/SIGINT.

Each API listens on its own port. The first line on stdout is
`listening on http://<host>:<port>` (Google Ads, flushed), then
`meta_ads listening on …`, `crm listening on …` and `issue_tracker listening on …`,
so a parent process can
start this with port 0 and read where each one listens. With `--parent-pid`, it
also stops when that process ends, however it ends (a SIGKILLed `caravan run`).
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from datetime import date
from types import FrameType

from caravan.simulator import crm_api, google_ads_api, issue_tracker_api, meta_ads_api
from caravan.simulator.faults import PLANT_SHARE, PLANTED_CLASSES, Faults, Plant
from caravan.simulator.http_base import SimulatorServer
from caravan.simulator.world import World

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_POLL_SECONDS = 1.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m caravan.simulator")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="serve the Google Ads, Meta, CRM and issue tracker APIs"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="Google Ads; 0 picks a free port")
    serve.add_argument("--meta-port", type=int, default=0)
    serve.add_argument("--crm-port", type=int, default=0)
    serve.add_argument("--issue-tracker-port", type=int, default=0)
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--scale", type=float, default=1.0)
    serve.add_argument("--page-size", type=int, default=50, help="Google Ads rows per page")
    serve.add_argument(
        "--days",
        type=iso_days,
        default=[],
        help="the days the CRM and the issue tracker hold: YYYY-MM-DD,YYYY-MM-DD,...",
    )
    serve.add_argument("--fault-rate", type=float, default=0.0, help="share of 429/500/503")
    serve.add_argument("--slow-seconds", type=float, default=0.0, help="delay per response")
    serve.add_argument("--malformed-rate", type=float, default=0.0, help="share of bad records")
    serve.add_argument(
        "--plant", choices=PLANTED_CLASSES, help="serve records that must fail the raw gate"
    )
    serve.add_argument(
        "--plant-from", type=date.fromisoformat, help="first day with planted records"
    )
    serve.add_argument(
        "--plant-share", type=float, default=PLANT_SHARE, help="share of a day's rows planted"
    )
    serve.add_argument(
        "--parent-pid", type=int, help="stop when this process (the one starting it) ends"
    )
    return parser.parse_args(argv)


def plant_of(args: argparse.Namespace) -> Plant | None:
    if args.plant is None:
        return None
    if args.plant_from is None:
        raise SystemExit("--plant needs --plant-from YYYY-MM-DD")
    return Plant(args.plant, args.plant_from, args.plant_share)


def iso_days(text: str) -> list[date]:
    """Comma-separated ISO dates, sorted and without repeats."""
    return sorted({date.fromisoformat(part) for part in text.split(",") if part.strip()})


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def stop_with_parent(parent_pid: int) -> None:
    """Get SIGTERM when the process that started this one ends, however it ends.

    A parent that is SIGKILLed cannot stop its children: without this, the servers
    would outlive it and keep their ports. On Linux the kernel sends the signal
    (prctl PR_SET_PDEATHSIG; it follows the thread that started this process, which
    `running_simulator` keeps in its `with` block); elsewhere a thread watches the
    parent's pid. A parent that ended before this was set up is caught by the pid check.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    else:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:
        raise SystemExit(f"the parent process {parent_pid} has ended: not serving")


def _watch_parent(parent_pid: int) -> None:
    """SIGTERM this process once it has been handed to another parent (its own ended)."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)


def serve(args: argparse.Namespace) -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.parent_pid is not None:
        stop_with_parent(args.parent_pid)
    world = World(seed=args.seed, scale=args.scale)
    faults = Faults(args.fault_rate, args.slow_seconds, args.malformed_rate, plant_of(args))
    google = google_ads_api.make_server(
        world, host=args.host, port=args.port, page_size=args.page_size, faults=faults
    )
    others: dict[str, SimulatorServer] = {
        "meta_ads": meta_ads_api.make_server(
            world, host=args.host, port=args.meta_port, faults=faults
        ),
        "crm": crm_api.make_server(
            world,
            args.days,
            host=args.host,
            port=args.crm_port,
            faults=faults,
        ),
        "issue_tracker": issue_tracker_api.make_server(
            world,
            args.days,
            host=args.host,
            port=args.issue_tracker_port,
            faults=faults,
        ),
    }
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in others.values()]
    for thread in threads:
        thread.start()
    print(f"listening on {google.url}", flush=True)
    for name, server in others.items():
        print(f"{name} listening on {server.url}", flush=True)
    try:
        google.serve_forever()
    finally:
        for server in others.values():
            server.shutdown()
            server.server_close()
        google.server_close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.command == "serve":
        serve(args)


if __name__ == "__main__":
    main()
