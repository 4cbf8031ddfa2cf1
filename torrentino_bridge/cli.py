"""Command line: wiring only. Each command module exposes register(subparsers)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from . import commands
from .config import Settings, load_settings
from .errors import (
    EXIT_CONFIG,
    EXIT_CRASH,
    EXIT_LOCKED,
    EXIT_SCHEMA,
    AlreadyRunningError,
    CatalogSchemaError,
    ConfigError,
)
from .importing import cli as import_cli
from .log import configure_logging
from .ops import commands as ops_commands
from .sim import cli as sim_cli

Handler = Callable[[argparse.Namespace], Awaitable[int]]

DEFAULT_CONFIG = "bridge.toml"


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", "-c", type=Path,
        default=Path(os.environ.get("TORRENTINO_BRIDGE_CONFIG", DEFAULT_CONFIG)),
        help="path to bridge.toml (default: $TORRENTINO_BRIDGE_CONFIG or ./bridge.toml)",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    """Load settings for a command; ConfigError propagates to main() (exit 2)."""
    settings = load_settings(args.config)
    log_format = getattr(args, "log_format", None) or settings.log.format
    configure_logging(settings.log.level, log_format)
    return settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torrentino-bridge",
        description="Sidecar between the Pezzottify catalog and Quentin Torrentino.",
    )
    parser.add_argument("--log-format", choices=["auto", "json", "console"], default=None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (commands, import_cli, ops_commands, sim_cli):
        module.register(sub, add_config_arg)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return asyncio.run(handler(args))
    except ConfigError as err:
        print(f"torrentino-bridge: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except CatalogSchemaError as err:
        print(f"torrentino-bridge: catalog schema mismatch: {err}", file=sys.stderr)
        return EXIT_SCHEMA
    except AlreadyRunningError as err:
        print(f"torrentino-bridge: {err}", file=sys.stderr)
        return EXIT_LOCKED
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # the last line of defence: one clear line, then the traceback
        print(f"torrentino-bridge: crashed: {err!r}", file=sys.stderr)
        import traceback

        traceback.print_exc()
        return EXIT_CRASH


if __name__ == "__main__":
    sys.exit(main())
