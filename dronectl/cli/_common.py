"""Shared pieces of the command line: options, output rendering, progress reporting."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from contextlib import contextmanager

import click

class HelpGroup(click.Group):
    """A command group that, called bare, shows its help and exits 0 (it is a question, not a mistake)."""

    def parse_args(self, ctx, args):
        if not args:
            click.echo(ctx.get_help())
            ctx.exit(0)
        return super().parse_args(ctx, args)


def group(**kwargs):
    """``@group()`` in place of ``@click.group()`` for every command group of the CLI."""
    return click.group(cls=HelpGroup, **kwargs)


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object for scripts.")


def emit_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=str, allow_nan=False))


def is_tty() -> bool:
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true", "yes")


# C0 and C1 control characters (ESC, newline, BEL...) and the Unicode marks that reorder or hide text.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(value) -> str:
    """``value`` as text a terminal shows as is: every control character written as an escape (``\\x1b``,
    ``\\n``...), so metadata and names (EXIF Make/Model, file names, audit details) cannot move the cursor, clear
    the screen, retitle the window or write the clipboard (OSC 52). Every table and line that shows them uses it."""
    text = str(value)
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text) \
        if _UNSAFE.search(text) else text


def _cell(value):
    from rich.text import Text

    return Text(terminal_safe(value))  # Text, not a str: "[red]" in a file name is not rich markup


def _console(min_width: int = 0):
    """A console on stdout: on a terminal, its width (or ``min_width`` when wider, so what must be copied is not
    cut: the terminal wraps the line); piped, no width limit at all (lines as long as their content)."""
    from rich.console import Console

    console = Console(soft_wrap=True)
    if not console.is_terminal:
        return Console(soft_wrap=True, width=100_000)
    if min_width > console.width:
        return Console(soft_wrap=True, width=min_width)
    return console


def kv_table(title: str, rows: list[tuple[str, object]]) -> None:
    """Keys and values on stdout, one pair a line, keys aligned (bold on a terminal). Nothing is cut nor padded: a
    long value (a path, a footprint) is one line the terminal wraps; control characters are escaped."""
    from rich.console import Console
    from rich.text import Text

    cells = [(terminal_safe(k), terminal_safe(v)) for k, v in rows]
    width = max((len(k) for k, _ in cells), default=0)
    console = Console(soft_wrap=True)
    console.print(Text(terminal_safe(title), style="bold"))
    for k, v in cells:
        console.print(Text.assemble((k.ljust(width), "bold"), "  " + v))


def table(title: str, columns: list[str], rows: list[list], keep: tuple[str, ...] = ()) -> None:
    """A table on stdout. The columns named in ``keep`` (what a user copies: names, ids, services, paths) are
    printed in full, never cut nor wrapped; the others wrap to fit the terminal. Piped, nothing is cut."""
    from rich.table import Table

    cells = [[terminal_safe(x) for x in r] for r in rows]
    t = Table(title=_cell(title))
    need = 1
    for i, c in enumerate(columns):
        if c in keep:
            width = max([len(c)] + [len(r[i]) for r in cells])
            t.add_column(c, no_wrap=True, min_width=width)
            need += width + 3
        else:
            t.add_column(c, overflow="fold")
            need += 4  # one character and its padding
    for r in cells:
        t.add_row(*[_cell(x) for x in r])
    _console(need).print(t)


class _LineProgress:
    """Quiet progress for logs and CI: a line at start, every ~10 %, and at the end."""

    def __init__(self, label: str, total: int | None):
        self.label, self.total, self.last_pct, self.t0 = label, total, -10, time.monotonic()
        self.text = ""

    def update(self, done: int, total: int | None = None, text: str = "") -> None:
        if total is not None:
            self.total = total
        if not self.total:
            return
        if text != self.text:  # a new stage (e.g. the mosaic's map tiles): counted from 0 again
            self.text, self.last_pct = text, -10
        pct = int(100 * done / self.total)
        if pct >= self.last_pct + 10 or done >= self.total:
            self.last_pct = pct
            extra = f" {text}" if text else ""
            click.echo(f"{self.label}: {done}/{self.total} ({pct} %){extra}", err=True)


class _RichProgress:
    def __init__(self, progress, task):
        self.progress, self.task = progress, task

    def update(self, done: int, total: int | None = None, text: str = "") -> None:
        kw = {"completed": done, "info": text}
        if total is not None:
            kw["total"] = total
        self.progress.update(self.task, **kw)


@contextmanager
def progress(label: str, total: int | None = None, quiet: bool = False):
    """Yield an object with ``update(done, total=None, text="")``: a rich bar on a TTY, lines otherwise.

    Progress goes to stderr so that ``--json`` on stdout stays clean.
    """
    if quiet:
        class _Null:
            def update(self, *a, **k):
                pass
        yield _Null()
        return
    if not is_tty():
        yield _LineProgress(label, total)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
                  console=Console(stderr=True), transient=False) as p:
        task = p.add_task(label, total=total, info="")
        yield _RichProgress(p, task)


def ctrl_c_returns_to_launch() -> None:
    """Make SIGINT interrupt (Ctrl-C, or ``kill -INT``) even when this process was started with it ignored, as a
    shell does for a background job (``dronectl fly … &`` in a script): in ``fly`` and ``sim run`` its only effect
    is to bring the vehicle home."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
