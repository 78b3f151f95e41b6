"""The ``dronectl`` command line: a click group with one module per command group.

Groups are imported lazily, so ``dronectl plan ...`` does not pay for pymavlink or the archive.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import os
import sys

import click

from dronectl import __version__
from dronectl.cli._common import HelpGroup
from dronectl.errors import EXIT_INTERRUPTED, EXIT_IO, DronectlError

# command name -> (module, attribute, short help)
COMMANDS = {
    "zones": ("dronectl.cli.zones", "zones", "List the city zones of a zone file."),
    "cameras": ("dronectl.cli.zones", "cameras", "List the camera database."),
    "plan": ("dronectl.cli.plan", "plan", "Plan survey missions, check them, export them."),
    "mission": ("dronectl.cli.mission", "mission", "Upload, download and clear missions over MAVLink."),
    "fly": ("dronectl.cli.fly", "fly", "Upload a plan and fly it, following progress."),
    "sim": ("dronectl.cli.sim", "sim", "Simulators: the built-in test vehicle, ArduPilot SITL."),
    "archive": ("dronectl.cli.archive", "archive", "The image archive: ingest, search, retention."),
    "users": ("dronectl.cli.users", "users", "Users of the web map and their tokens."),
    "serve": ("dronectl.cli.serve", "serve", "Serve the web map of the archive."),
    "demo": ("dronectl.cli.demo", "demo", "Run the whole chain on embedded defaults."),
    "logbook": ("dronectl.cli.logbook", "logbook", "The flight logbook: list, export, import, verify."),
    "pilots": ("dronectl.cli.pilots", "pilots", "Remote pilots and their competences."),
    "aircraft": ("dronectl.cli.aircraft", "aircraft", "The unit's aircraft, hours and maintenance."),
    "authorisations": ("dronectl.cli.authorisations", "authorisations", "Authorisations and flight declarations."),
    "declare": ("dronectl.cli.authorisations", "declare", "Print the fields of a flight declaration."),
}


class LazyGroup(HelpGroup):
    def list_commands(self, ctx):
        return [name for name, (mod, _, _) in COMMANDS.items() if importlib.util.find_spec(mod) is not None]

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        mod, attr, _ = COMMANDS[name]
        try:
            return getattr(importlib.import_module(mod), attr)
        except ModuleNotFoundError as exc:
            if exc.name == mod:
                return None
            raise

    def format_commands(self, ctx, formatter):
        rows = [(n, COMMANDS[n][2]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx):
        args = [*getattr(ctx, "_protected_args", []), *ctx.args]
        one_line_warnings()
        try:
            return super().invoke(ctx)
        except DronectlError as exc:
            fail(str(exc), exc.exit_code, args, exc.details)
        except click.ClickException as exc:  # usage errors: click's own text, or the JSON object with --json
            if not wants_json(args):
                raise
            fail(exc.format_message(), exc.exit_code, args)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED, args, prefix="dronectl: ")
        except BrokenPipeError:
            sys.exit(0)
        except OSError as exc:  # the user's files and folders: a path that cannot be made, read or written
            fail(os_error_sentence(exc), EXIT_IO, args)


# Library warnings dronectl says better itself, or that tell a user nothing: not shown.
_SILENT_WARNINGS = ("NotGeoreferencedWarning",)  # rasterio; every raster input is refused without a CRS, in words


def _show_warning(message, category, filename, lineno, file=None, line=None):
    if category.__name__ in _SILENT_WARNINGS:
        return
    from dronectl.cli._common import terminal_safe

    text = str(message).strip().splitlines()[0] if str(message).strip() else category.__name__
    click.echo(f"dronectl: warning: {terminal_safe(text)}", err=True)


def one_line_warnings() -> None:
    """Python warnings (from rasterio, pyogrio, shapely...) as one line in dronectl's form on stderr, with no
    source path or code line (Python's filters still show each at most once per place)."""
    import warnings

    warnings.showwarning = _show_warning


def wants_json(args: list[str]) -> bool:
    """Whether the command line asks for JSON on stdout (``--json``, or ``--format json|geojson|stac``)."""
    args = args[:args.index("--")] if "--" in args else args
    if "--json" in args:
        return True
    return any(a == "--format" and i + 1 < len(args) and args[i + 1] in ("json", "geojson", "stac")
               or a in ("--format=json", "--format=geojson", "--format=stac") for i, a in enumerate(args))


def fail(message: str, exit_code: int, args: list[str], details=(), prefix: str = "dronectl: error: ") -> None:
    """The error path of every command: one line on stderr (then each detail the line summarises, indented),
    and with ``--json`` one JSON object on stdout, ``{"error": ..., "exit_code": N[, "details": [...]]}``."""
    from dronectl.cli._common import terminal_safe

    details = list(details) if len(details) > 1 else []  # one detail is the line itself
    click.echo(f"{prefix}{terminal_safe(message)}", err=True)
    for d in details:
        click.echo(f"  - {terminal_safe(d)}", err=True)
    if wants_json(args):
        import json

        obj = {"error": message, "exit_code": exit_code}
        if details:
            obj["details"] = list(details)
        click.echo(json.dumps(obj))
    sys.exit(exit_code)


def os_error_sentence(exc: OSError) -> str:
    """What went wrong with a path, in words: "x is a file, not a folder" rather than "File exists"."""
    path = exc.filename
    if path is None:
        return f"{exc.strerror or exc}; check the path and its permissions"
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        # makedirs/open through a path one of whose parents is a file
        probe = os.path.abspath(path)
        while probe and probe != os.path.dirname(probe):
            if os.path.isfile(probe):
                what = f"{path}: " if probe != os.path.abspath(path) else ""
                return f"{what}{probe} is a file, not a folder; choose another output path"
            probe = os.path.dirname(probe)
    if exc.errno == errno.EISDIR:
        return f"{path} is a folder, not a file; give a file name"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{path}: permission denied; choose a path you may write to, or fix its permissions"
    if exc.errno == errno.ENOENT:
        return f"{path}: no such file or folder; check the path"
    if exc.errno == errno.ENOSPC:
        return f"{path}: the disk is full; free some space and try again"
    return f"{path}: {exc.strerror or exc}; check the path and its permissions"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dronectl")
def cli():
    """dronectl — plan, fly and archive survey missions for a city's drone unit."""


def main():
    cli(prog_name="dronectl")
