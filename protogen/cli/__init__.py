"""The ``protogen`` command: a click group with one thin module per command.

The library does the work; each command parses options, calls it, prints a summary and turns
:class:`protogen.errors.ProtogenError` into one line with exit code 2.
"""

import sys

import click

from protogen import __version__


class OneLineErrorGroup(click.Group):
    """Usage errors print a single ``Error: ...`` line and exit 2 (no usage block)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            click.echo(f"Error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=OneLineErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="protogen")
def main():
    """Hyperspherical prototypes: solve, store, benchmark and train with them."""


# Each command module adds its commands to the group on import.
from protogen.cli import bench, files, plot, solve, train  # noqa: E402,F401
