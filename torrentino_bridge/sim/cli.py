"""`torrentino-bridge sim`: run the QT simulator (for the demo and subprocess tests)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from ..log import REDACTOR, configure_logging
from .config import AUDIO_KINDS, SimConfig


def register(sub: Any, add_config_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the `sim` subcommand. It needs no bridge config, so add_config_arg is unused."""
    parser = sub.add_parser(
        "sim", help="run a Quentin Torrentino simulator (HTTP + WebSocket API)",
        description="Serve a simulated Quentin Torrentino v1 API. Control it through "
                    "POST /sim/outcome, POST /sim/faults and GET /sim/state (no auth).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument(
        "--api-key", default=os.environ.get("TORRENTINO_SIM_API_KEY") or None,
        help="require this key (Bearer or X-API-Key); default $TORRENTINO_SIM_API_KEY, else no auth",
    )
    parser.add_argument("--step-secs", type=_non_negative, default=SimConfig.step_secs,
                        help="delay between two state steps of a ticket")
    parser.add_argument("--progress-ticks", type=int, default=SimConfig.progress_ticks)
    parser.add_argument("--format", choices=AUDIO_KINDS, default=None, dest="audio_kind",
                        help="audio files to write (default: from the ticket's output_constraints)")
    parser.add_argument("--drop-ws", action="store_true",
                        help="drop every WebSocket message (the bridge must reconcile by polling)")
    parser.set_defaults(handler=run)


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be a non-negative number")
    return value


async def run(args: argparse.Namespace) -> int:
    from .server import run_sim  # imports numpy/soundfile; only when the command runs

    configure_logging("info", getattr(args, "log_format", None) or "auto")
    REDACTOR.add(args.api_key)
    config = SimConfig(api_key=args.api_key, step_secs=args.step_secs,
                       progress_ticks=args.progress_ticks, audio_kind=args.audio_kind,
                       drop_ws=args.drop_ws)
    await run_sim(args.host, args.port, config)
    return 0
