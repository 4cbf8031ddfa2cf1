"""Subcommands of this area (being written)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def register(sub: Any, add_config_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this module's subcommands to the CLI."""
