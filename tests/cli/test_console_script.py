"""The installed console script, run as a user runs it: every help screen and bare group exits 0.

In-process CliRunner tests cannot see a fault at start-up (an import that only works because the test
runner imported something first); these run ``.venv/bin/dronectl`` as a subprocess.
"""

from __future__ import annotations

import subprocess

import click

from dronectl.cli import cli
from tests.conftest import console_script


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([console_script(), *args], capture_output=True, text=True, timeout=60)


def every_command_path() -> list[tuple[str, ...]]:
    """Every group and command the CLI lists, as argument tuples: (), ("plan",), ("plan", "survey")..."""
    out: list[tuple[str, ...]] = [()]

    def walk(cmd: click.Command, path: tuple[str, ...]) -> None:
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd, info_name=path[-1] if path else "dronectl")
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                out.append((*path, name))
                walk(sub, (*path, name))

    walk(cli, ())
    return out


def test_every_help_screen_and_bare_group_works():
    paths = every_command_path()
    assert ("plan", "survey") in paths and ("mission", "upload") in paths  # the walk reached the leaves
    for path in paths:
        p = run(*path, "--help")
        assert p.returncode == 0 and "Traceback" not in p.stderr, (path, p.stderr)
        assert "Usage: dronectl" in p.stdout, (path, p.stdout)
        if not path or isinstance(_resolve(path), click.Group):
            bare = run(*path)
            assert bare.returncode == 0 and "Traceback" not in bare.stderr, (path, bare.stderr)
            assert "Commands:" in bare.stdout, (path, bare.stdout)


def test_only_built_commands_are_listed():
    p = run("--help")
    listed = [ln.split()[0] for ln in p.stdout.split("Commands:")[1].strip().splitlines()]
    for name in listed:
        assert run(name, "--help").returncode == 0, name
    assert run("no-such-command").returncode == 2


def test_version():
    from dronectl import __version__

    p = run("--version")
    assert p.returncode == 0 and __version__ in p.stdout


def _resolve(path: tuple[str, ...]) -> click.Command:
    cmd: click.Command = cli
    for name in path:
        cmd = cmd.get_command(click.Context(cmd), name)
    return cmd
