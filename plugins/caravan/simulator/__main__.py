"""`python -m caravan.simulator serve`: run the Google Ads API until SIGTERM/SIGINT.

The first line on stdout is `listening on http://<host>:<port>` (flushed), so a
parent process can start this with `--port 0` and read where it listens.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from caravan.simulator.google_ads_api import make_server
from caravan.simulator.world import World


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m caravan.simulator")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the Google Ads API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--scale", type=float, default=1.0)
    serve.add_argument("--page-size", type=int, default=50)
    return parser.parse_args(argv)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(host: str, port: int, seed: int, scale: float, page_size: int) -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    server = make_server(World(seed=seed, scale=scale), host=host, port=port, page_size=page_size)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.command == "serve":
        serve(args.host, args.port, args.seed, args.scale, args.page_size)


if __name__ == "__main__":
    main()
