"""Start the example: ``.venv/bin/python -m examples.dapp_backend [--port 8000]``; open the printed URL."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from examples.dapp_backend._app import running_example


def build_parser() -> argparse.ArgumentParser:
    """The command line (docs/example-backend.md's commands are parsed with it by a test)."""
    parser = argparse.ArgumentParser(prog="python -m examples.dapp_backend", description=__doc__)
    parser.add_argument(
        "--flow",
        choices=("erc4337", "era"),
        default="erc4337",
        help="erc4337: ModularSmartAccount, UserOperations executed by EntryPoint v0.8 (default); "
        "era: the Era WebAuthValidator with stand-in accounts (plain anvil has no EraVM)",
    )
    parser.add_argument(
        "--bundler",
        action="store_true",
        help="erc4337: also start the Alto bundler (npm) and send UserOperations through it",
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="HTTP port on localhost (default 8000; 0: any)"
    )
    parser.add_argument(
        "--store",
        default="sqlite://:memory:",
        help="where passkeys, challenges, users, sessions, pending operations and rate-limit buckets live: "
        "sqlite:///path.db or postgresql://user@host/db (default sqlite://:memory:, gone at exit)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes (erc4337 flow, with a --store they all open; default 1)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="also log the SDK's RPC traffic and error details"
    )
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line (``--workers`` needs a shared store and the erc4337 flow)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.workers > 1 and (args.flow != "erc4337" or args.store == "sqlite://:memory:"):
        parser.error(
            "--workers > 1 needs --flow erc4337 and a --store every worker opens (a file or PostgreSQL)"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    # uvicorn stops gracefully on SIGINT/SIGTERM, then re-raises the signal to its previous handler: make that
    # a KeyboardInterrupt for SIGTERM too, so leaving the block below also stops anvil (not a hard exit).
    signal.signal(signal.SIGTERM, _stop)
    # The chain is a fresh anvil each run: accounts stored by an earlier run would not exist on it, so the
    # default store is in memory (a file or PostgreSQL is for several workers, or to look at the rows).
    with running_example(
        flow=args.flow, port=args.port, bundler=args.bundler, store=args.store, workers=args.workers
    ) as example:
        print(f"{example.flow} flow on anvil chain {example.chain_id} at {example.node_url}", flush=True)
        print(f"passkey validator at {example.validator}", flush=True)
        if args.workers > 1:
            print(f"{args.workers} uvicorn workers sharing the store", flush=True)
        print(f"open {example.server.origin}/ in a browser with a passkey (Ctrl-C stops)", flush=True)
        try:
            example.server.serve_forever()
        except KeyboardInterrupt:
            print("stopping")
    return 0


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
