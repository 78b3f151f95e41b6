"""The logbook's integrity chain: each entry's hash covers its content, its number and the previous hash.

Editing an entry changes its hash; deleting one leaves a gap in the numbers and a ``prev_hash`` that no longer
matches; deleting the last ones is seen against the head (number and hash of the last entry) kept beside them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

GENESIS = "0" * 64


def canonical(body: dict) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(body: dict) -> str:
    """SHA-256 of the entry's canonical JSON (which holds its ``seq`` and ``prev_hash``)."""
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    entries: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "problems": list(self.problems)}


def verify_chain(rows, head: tuple[int, str] | None) -> ChainReport:
    """``rows``: (seq, body text, hash column) in seq order; ``head``: the stored (last seq, last hash).
    Every edit, deletion or reordering is one line in the report."""
    problems = []
    expected_seq, prev = 1, GENESIS
    n = 0
    for seq, text, stored in rows:
        n += 1
        try:
            body = json.loads(text)
        except ValueError:
            problems.append(f"entry {seq}: its text is not JSON any more (edited)")
            expected_seq, prev = seq + 1, stored
            continue
        if seq != expected_seq:
            gone = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq} to {seq - 1}"
            problems.append(f"entry {gone} deleted (the numbers jump from {expected_seq - 1} to {seq})")
        elif body.get("prev_hash") != prev:
            problems.append(f"entry {seq}: does not follow entry {seq - 1} (an entry was edited or replaced)")
        if body.get("seq") != seq:
            problems.append(f"entry {seq}: its number was edited (the entry says {body.get('seq')})")
        if entry_hash({k: v for k, v in body.items() if k != "hash"}) != stored or body.get("hash", stored) != stored:
            problems.append(f"entry {seq}: edited after it was written (its hash does not match its content)")
        expected_seq, prev = seq + 1, stored
    if head is not None:
        last_seq, last_hash = head
        if last_seq > expected_seq - 1:
            gone = f"{last_seq}" if last_seq == expected_seq else f"{expected_seq} to {last_seq}"
            problems.append(f"entry {gone} deleted (the logbook's head is entry {last_seq})")
        elif last_seq == expected_seq - 1 and last_hash != prev:
            problems.append(f"entry {last_seq}: differs from the head recorded when it was written (edited)")
    elif n:
        problems.append("the logbook's head record is missing (deleted)")
    return ChainReport(n, tuple(problems))
