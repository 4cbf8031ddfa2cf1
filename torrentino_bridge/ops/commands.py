"""Maintenance subcommands: check, scan-audio, migrate-from-old-downloader."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from . import check, migrate, scan_audio


def register(sub: Any, add_config_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the maintenance subcommands to the CLI."""
    for module in (check, scan_audio, migrate):
        module.register(sub, add_config_arg)
