"""Shared CLI plumbing: one-line errors with exit code 2, and the common options."""

from __future__ import annotations

import functools
import json
import sys

import click

from protogen.errors import ProtogenError


def fail(message: str) -> None:
    """Print one line to stderr and exit 2 (click's usage-error convention)."""
    click.echo(f"Error: {message}".splitlines()[0] if "\n" in message else f"Error: {message}",
               err=True)
    sys.exit(2)


def handle_errors(func):
    """Turn library errors (and unreadable files) into one line and exit 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ProtogenError as exc:
            fail(str(exc))
        except (OSError, MemoryError) as exc:
            fail(f"{type(exc).__name__}: {exc}")

    return wrapper


quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print the summary as one JSON object.")
seed_option = click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                           help="Seed of every random choice (saved with the output).")
force_option = click.option("--force", is_flag=True, help="Overwrite an existing output.")


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))
