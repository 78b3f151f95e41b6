"""Start-up time of the console script: what a user waits for before anything happens.

Runs each command as a subprocess (the installed ``dronectl`` beside this Python), best and median of N
runs, against a bare ``python -c pass`` measured in the same run; prints the ratio.

    .venv/bin/python benchmarks/cli_bench.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date

COMMANDS = [
    ["--help"],
    ["plan", "--help"],
    ["archive", "--help"],
    ["zones", "list"],
    ["cameras", "list"],
    ["plan", "survey", "--help"],
]


def timed(argv: list[str], runs: int) -> list[float]:
    out = []
    env = {**os.environ, "CI": "true"}
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    runs = ap.parse_args().runs
    script = os.path.join(os.path.dirname(sys.executable), "dronectl")
    base = timed([sys.executable, "-c", "pass"], runs)
    base_med = statistics.median(base)
    print(f"# cli_bench  {date.today()}  {platform.machine()}  {os.cpu_count()} cores  Python {platform.python_version()}"
          f"  runs={runs}")
    print(f"python -c pass: best {min(base) * 1000:.0f} ms  median {base_med * 1000:.0f} ms")
    print("command | best ms | median ms | median / python -c pass")
    for cmd in COMMANDS:
        t = timed([script, *cmd], runs)
        med = statistics.median(t)
        print(f"dronectl {' '.join(cmd)} | {min(t) * 1000:.0f} | {med * 1000:.0f} | {med / base_med:.1f}x")


if __name__ == "__main__":
    main()
