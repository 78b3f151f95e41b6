"""Users and tokens of the web server, on both catalogue backends: random, stored hashed, revocable."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from dronectl.archive.users import split_token
from dronectl.errors import InputError
from tests.conftest import console_script


def test_a_token_logs_its_user_in_and_nothing_else_does(archive):
    user, token = archive.add_user("alice", "police")
    assert re.fullmatch(r"dct\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}", token)  # 64-bit selector, 256-bit secret
    got = archive.authenticate(token)
    assert (got.name, got.service, got.admin) == ("alice", "police", False)
    selector, secret = split_token(token)
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for bad in (f"dct.{selector}.{flipped}", f"dct.{'0' * 16}.{secret}", token + "x", token[:-1], "",
                "Bearer " + token, token.upper(), "dct..", "é" * 60, "x" * 10_000):
        assert archive.authenticate(bad) is None, bad


def test_tokens_are_random_and_only_their_hash_is_stored(archive):
    tokens = [archive.add_user(f"u{i}", "technical")[1] for i in range(20)]
    assert len(set(tokens)) == 20 and len({split_token(t)[0] for t in tokens}) == 20
    rows = archive.catalog._query("SELECT * FROM users")
    stored = json.dumps([[str(v) for v in r] for r in rows])
    for t in tokens:
        assert split_token(t)[1] not in stored and t not in stored
    if archive.catalog.backend == "sqlite":
        raw = b"".join(p.read_bytes() for p in archive.root.glob("catalogue.sqlite*"))
        assert not any(split_token(t)[1].encode() in raw for t in tokens)


def test_revoking_refuses_the_token_at_once_and_replace_issues_a_new_one(archive):
    _, token = archive.add_user("bob", "communication", admin=True)
    assert archive.authenticate(token).admin
    revoked = archive.revoke_user("bob")
    assert revoked.revoked_at is not None and not revoked.active
    assert archive.authenticate(token) is None
    _, again = archive.add_user("bob", "technical", replace=True)
    assert archive.authenticate(token) is None and archive.authenticate(again).service == "technical"
    actions = [(e.action, e.detail) for e in archive.audit_log()]
    assert ("user-add", "user bob (admin)") in actions and ("user-revoke", "user bob") in actions


def test_bad_users_are_refused_with_a_sentence(archive):
    archive.add_user("carol", "technical")
    with pytest.raises(InputError, match="user 'carol' exists"):
        archive.add_user("carol", "police")
    with pytest.raises(InputError, match="unknown service 'fire'"):
        archive.add_user("dave", "fire")
    for name in ("", "-x", "a b", "x" * 65, "../etc", "é"):
        with pytest.raises(InputError, match="bad user name"):
            archive.add_user(name, "technical")
    with pytest.raises(InputError, match="no user 'nobody'"):
        archive.revoke_user("nobody")
    assert [u.name for u in archive.users()] == ["carol"]


def _run(*args):
    return subprocess.run([console_script(), *args], capture_output=True, text=True, timeout=60)


def test_users_commands_as_a_user_types_them(tmp_path):
    arch = str(tmp_path / "archive")
    p = _run("users", "add", "alice", "--service", "police", "--archive", arch, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert set(out) == {"name", "service", "admin", "token"} and out["service"] == "police"
    plain = _run("users", "add", "bob", "--service", "technical", "--admin", "--archive", arch)
    assert plain.returncode == 0 and split_token(plain.stdout.strip().splitlines()[-1])
    listed = _run("users", "list", "--archive", arch, "--json")
    assert [(u["name"], u["admin"]) for u in json.loads(listed.stdout)] == [("alice", False), ("bob", True)]
    assert out["token"] not in listed.stdout and "token" not in listed.stdout
    assert _run("users", "revoke", "alice", "--archive", arch).returncode == 0
    assert json.loads(_run("users", "list", "--archive", arch, "--json").stdout)[0]["revoked_at"]
    for args, words in ((("add", "carol", "--service", "fire"), "unknown service 'fire'"),
                        (("add", "bob", "--service", "technical"), "user 'bob' exists"),
                        (("revoke", "nobody"), "no user 'nobody'")):
        bad = _run("users", *args, "--archive", arch)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1 and words in bad.stderr
