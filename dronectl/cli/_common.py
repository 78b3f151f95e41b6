"""Shared pieces of the command line: options, output rendering, progress reporting."""

from __future__ import annotations

import json
import os
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


def kv_table(title: str, rows: list[tuple[str, object]]) -> None:
    """A two-column table on stdout (rich on a terminal, plain aligned text otherwise)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for k, v in rows:
        table.add_row(k, str(v))
    Console(soft_wrap=True).print(table)


def table(title: str, columns: list[str], rows: list[list]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[str(x) for x in r])
    Console(soft_wrap=True).print(t)


class _LineProgress:
    """Quiet progress for logs and CI: a line at start, every ~10 %, and at the end."""

    def __init__(self, label: str, total: int | None):
        self.label, self.total, self.last_pct, self.t0 = label, total, -10, time.monotonic()

    def update(self, done: int, total: int | None = None, text: str = "") -> None:
        if total is not None:
            self.total = total
        if not self.total:
            return
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
