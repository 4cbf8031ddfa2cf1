"""`python -m torrentino_bridge.sim [options]`: the simulator without the bridge's CLI."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from .cli import register


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m torrentino_bridge.sim")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub, lambda p: None)
    # The bridge's CLI has --log-format before the command; here there is only one command.
    sub.choices["sim"].add_argument("--log-format", choices=["auto", "json", "console"], default=None)
    args = parser.parse_args(["sim", *(sys.argv[1:] if argv is None else argv)])
    try:
        return asyncio.run(args.handler(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
