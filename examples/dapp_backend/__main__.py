"""Start the example: ``.venv/bin/python -m examples.dapp_backend [--port 8000]``; open the printed URL."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

from examples.dapp_backend._app import running_example


def main(argv: list[str] | None = None) -> int:
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
    parser.add_argument("--port", type=int, default=8000, help="HTTP port on localhost (default 8000)")
    parser.add_argument(
        "--verbose", action="store_true", help="also log the SDK's RPC traffic and error details"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    # uvicorn stops gracefully on SIGINT/SIGTERM, then re-raises the signal to its previous handler: make that
    # a KeyboardInterrupt for SIGTERM too, so leaving the block below also stops anvil (not a hard exit).
    signal.signal(signal.SIGTERM, _stop)
    # In-memory database: the chain is a fresh anvil each run, so stored accounts would not exist on it.
    with running_example(flow=args.flow, port=args.port, bundler=args.bundler) as example:
        print(f"{example.flow} flow on anvil chain {example.chain_id} at {example.node_url}", flush=True)
        print(f"passkey validator at {example.validator}", flush=True)
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
