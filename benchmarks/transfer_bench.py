"""Mission transfers on a bad radio: upload + read-back and download at 30 % loss both ways (issue 20).

    .venv/bin/python benchmarks/transfer_bench.py [--items 300] [--seeds 10] [--loss 0.3] [--speedup 10]

On the built-in test vehicle at speed-up 10 (its own timers, e.g. an upload cancelled after 8 simulated seconds
without an item, run 10x faster; dronectl's run in real time: the spec's 1.5 s / 250 ms, as against a real
vehicle), over TCP loopback, ``loss`` of the packets lost each way, one vehicle per seed (the seed draws the
losses). For each seed:

* ``upload+verify``: ``transfer.upload(verify=True)`` of N items (method auto: MAVLink FTP for the mission, read
  back with the item protocol), no fence or rally, from the read of what the vehicle holds (all-or-nothing) to the
  end of the read-back;
* ``download ftp`` / ``download items``: ``transfer.download`` of the same N items (mission, fence, rally) with
  the FTP burst read of ``@MISSION/mission.dat``, and with the item protocol (windowed requests).

Median, min and max over the seeds. Against MAVProxy (`wp list`, `wp ftp`) on ArduPilot SITL:
``benchmarks/upload_bench.py --download-only``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dronectl.mavlink import link, transfer  # noqa: E402
from dronectl.sim.vehicle import start_vehicle  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upload_bench import HOME, mission  # noqa: E402


def one_seed(n: int, loss: float, seed: int, speedup: float) -> dict:
    h = start_vehicle(home=HOME, speedup=speedup, gps_delay_s=0.5, ekf_delay_s=1.0, storage_delay_s=0.2, seed=seed)
    try:
        master = link.connect(h.connection_string, 30)
        link.wait_ready(master, time.monotonic() + 60)
        h.set_faults(loss=loss)  # from here on: the seed's losses, both ways
        m = mission(n)
        out = {}
        t0 = time.perf_counter()
        r = transfer.upload(master, m, verify=True)
        out["upload+verify"] = time.perf_counter() - t0
        assert r == [], r
        out["upload method"] = r.method
        for method in ("ftp", "items"):
            t0 = time.perf_counter()
            got = transfer.download(master, method=method)
            out[f"download {method}"] = time.perf_counter() - t0
            assert transfer.differences(m, got) == []
        master.close()
        return out
    finally:
        h.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--loss", type=float, default=0.3)
    ap.add_argument("--speedup", type=float, default=10.0)
    args = ap.parse_args()
    print(f"transfer benchmark: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}; {args.items} items, loss {args.loss:.0%} "
          f"each way, speed-up {args.speedup:g}, {args.seeds} seeds", flush=True)
    rows = []
    for seed in range(args.seeds):
        r = one_seed(args.items, args.loss, seed, args.speedup)
        rows.append(r)
        print(f"seed {seed:2d}: upload+verify {r['upload+verify']:5.1f} s ({r['upload method']})   download ftp "
              f"{r['download ftp']:5.1f} s   download items {r['download items']:5.1f} s", flush=True)
    for key in ("upload+verify", "download ftp", "download items"):
        v = [r[key] for r in rows]
        print(f"{key:15s} median {statistics.median(v):5.1f} s   min {min(v):5.1f}   max {max(v):5.1f}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
