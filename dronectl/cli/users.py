"""``dronectl users ...``: the web server's users and their tokens (add, list, rotate, revoke).

This is the administrator's tool on the machine that runs ``dronectl serve``: whoever can run it can read
the archive folder anyway.
"""

from __future__ import annotations

import click

from dronectl.cli._common import emit_json, group, json_option, table
from dronectl.cli.archive import _open, archive_option


@group()
def users():
    """Users of the web map: one token per user, per service."""


@users.command()
@click.argument("name")
@click.option("--service", required=True, help="The service whose images the user sees (police, technical...).")
@click.option("--admin", is_flag=True, help="The user manages users and holds (sees no more images for it).")
@click.option("--replace", is_flag=True, help="The user exists: give it a new token (the old one stops working).")
@archive_option
@json_option
def add(name, service, admin, replace, archive_path, as_json):
    """Create a user and print its token (shown once, stored only hashed)."""
    with _open(archive_path, create=True) as a:
        user, token = a.add_user(name, service, admin=admin, replace=replace)
    if as_json:
        emit_json({"name": user.name, "service": user.service, "admin": user.admin, "token": token})
        return
    click.echo(f"user {user.name} ({user.service}{', admin' if user.admin else ''}) created; its token, shown "
               "only this once:")
    click.echo(token)


@users.command("list")
@archive_option
@json_option
def list_(archive_path, as_json):
    """The users, their service and whether they are revoked (never their tokens)."""
    with _open(archive_path) as a:
        rows = a.users()
    if as_json:
        emit_json([u.to_dict() for u in rows])
        return
    table(f"{len(rows)} user(s)", ["name", "service", "admin", "created (UTC)", "revoked (UTC)"],
          [[u.name, u.service, "yes" if u.admin else "-", u.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            u.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if u.revoked_at else "-"] for u in rows])


@users.command()
@click.argument("name")
@archive_option
@json_option
def rotate(name, archive_path, as_json):
    """Give a user a new token (shown once); the old one and its logins are refused at once."""
    with _open(archive_path) as a:
        user, token = a.rotate_user(name)
    if as_json:
        emit_json({"name": user.name, "service": user.service, "admin": user.admin, "token": token})
        return
    click.echo(f"user {user.name} has a new token (the old one no longer works), shown only this once:")
    click.echo(token)


@users.command()
@click.argument("name")
@archive_option
@json_option
def revoke(name, archive_path, as_json):
    """Revoke a user's token and end its logins; both are refused from the next request on."""
    with _open(archive_path) as a:
        user = a.revoke_user(name)
    if as_json:
        emit_json(user.to_dict())
        return
    click.echo(f"user {user.name} revoked")
