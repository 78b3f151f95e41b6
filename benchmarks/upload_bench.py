"""Mission upload and download time: dronectl vs MAVProxy (`wp load`, `wp ftpload`, `wp list`, `wp ftp`), built-in
test vehicle and ArduPilot SITL.

    .venv/bin/pip install mavproxy          # the peer; for this benchmark only, not a dronectl dependency
    .venv/bin/python benchmarks/upload_bench.py [--sitl PATH] [--sizes 100 300 600] [--repeat 3]

Both clients upload the same missions (N items + home, so 601 MAVLink items for N = 600) over TCP loopback to
the same vehicle at speed-up 1, one client connected at a time. dronectl is timed from MISSION_COUNT to the
vehicle's MISSION_ACK; MAVProxy from the moment `wp load FILE` is written to its console to the moment it prints
the vehicle's MISSION_ACK (its own "Loaded N waypoints in X s", timed to the last item sent, is printed as well).
Over MAVLink FTP (``@MISSION/mission.dat``) dronectl is timed from its read of the
vehicle's home to the check of the item count after the file is closed; MAVProxy (`wp ftpload`) from the command
to its "Sent waypoint of length N in X s". Downloads (the mission only): dronectl `transfer.download` with the item
protocol (windowed requests) and with the FTP burst read, from the call to the returned mission; MAVProxy `wp list`
and `wp ftp` from the command to its "Saved waypoints to" line (after it prints the items: a few ms). Each figure is the median of ``--repeat`` runs. SITL runs when ``--sitl`` or DRONECTL_SITL_BIN names an
arducopter binary.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pymavlink import mavutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dronectl.formats import waypoints  # noqa: E402
from dronectl.mavlink import link, transfer  # noqa: E402
from dronectl.mission import (CMD_NAV_TAKEOFF, CMD_NAV_WAYPOINT, FRAME_GLOBAL, FRAME_GLOBAL_RELATIVE_ALT,  # noqa: E402
                              Home, Mission, MissionItem)

HOME = (49.3773, 3.3270, 60.0)


def mission(n: int) -> Mission:
    items = [MissionItem(CMD_NAV_TAKEOFF, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0, HOME[0], HOME[1], 30.0)]
    items += [MissionItem(CMD_NAV_WAYPOINT, FRAME_GLOBAL_RELATIVE_ALT, 0, 0, 0, 0, HOME[0] + 1.1e-5 * (k % 50),
                          HOME[1] + 1.3e-5 * (k // 50), 30.0 + 0.37 * (k % 7)) for k in range(n - 1)]
    return Mission(items=tuple(items), home=Home(*HOME))


def wait_position(conn: str, timeout_s: float = 180.0) -> None:
    master = link.connect(conn, timeout_s)
    try:
        link.wait_ready(master, time.monotonic() + timeout_s)
    finally:
        master.close()


def time_dronectl(conn: str, n: int, repeat: int, ftp: bool = False) -> float:
    m = mission(n)
    placeholder = MissionItem(CMD_NAV_WAYPOINT, FRAME_GLOBAL, 0, 0, 0, 0, *HOME)
    send = transfer.upload_items_ftp if ftp else transfer.upload_items
    runs = []
    master = link.connect(conn, 30)
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            send(master, [placeholder, *m.items], transfer.TYPE_MISSION)
            runs.append(time.perf_counter() - t0)
        assert transfer.differences(m, transfer.download(master, fence_and_rally=False)) == []
    finally:
        master.close()
    return statistics.median(runs)


class MavProxy:
    """MAVProxy driven through its console on stdin, its output read line by line."""

    def __init__(self, exe: str, conn: str, workdir: Path):
        self.p = subprocess.Popen([exe, f"--master={conn}", "--default-modules=wp,ftp", "--source-system=255"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  bufsize=1, cwd=workdir)
        self.lines: list[tuple[float, str]] = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for(r"Detected vehicle", 0, 60)
        time.sleep(2.0)  # let its start-up requests (mission list, streams) settle

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                self.lines.append((time.perf_counter(), line.rstrip()))
                self.cv.notify_all()

    def wait_for(self, pattern: str, start: int, timeout_s: float):
        deadline = time.monotonic() + timeout_s
        rx = re.compile(pattern)
        with self.cv:
            while True:
                for i in range(start, len(self.lines)):
                    if rx.search(self.lines[i][1]):
                        return i, self.lines[i]
                left = deadline - time.monotonic()
                if left <= 0 or self.p.poll() is not None:
                    tail = "\n".join(x[1] for x in self.lines[-10:])
                    raise SystemExit(f"MAVProxy: no '{pattern}' within {timeout_s} s; last output:\n{tail}")
                self.cv.wait(min(left, 0.5))

    def wp_load(self, path: Path) -> tuple[float, float]:
        """(seconds from the command to the vehicle's ACK, MAVProxy's own 'Loaded N waypoints in X s')."""
        with self.cv:
            start = len(self.lines)
        t0 = time.perf_counter()
        self.p.stdin.write(f"wp load {path}\n")
        self.p.stdin.flush()
        i, (_, loaded) = self.wait_for(r"Loaded \d+ waypoints in [\d.]+s", start, 120)
        _, (t_ack, ack) = self.wait_for(r"MISSION_ACK: TYPE_MISSION: (\w+)", i, 60)
        if "ACCEPTED" not in ack:
            raise SystemExit(f"MAVProxy upload refused: {ack}")
        return t_ack - t0, float(re.search(r"in ([\d.]+)s", loaded).group(1))

    def wp_ftpload(self, path: Path) -> tuple[float, float]:
        """(seconds from `wp ftpload` to its "Sent waypoint of length N in X s", that X)."""
        with self.cv:
            start = len(self.lines)
        t0 = time.perf_counter()
        self.p.stdin.write(f"wp ftpload {path}\n")
        self.p.stdin.flush()
        _, (t_done, line) = self.wait_for(r"Sent \w+ of length \d+ in [\d.]+s|Failed to send", start, 120)
        if "Failed" in line:
            raise SystemExit(f"MAVProxy ftpload failed: {line}")
        return t_done - t0, float(re.search(r"in ([\d.]+)s", line).group(1))

    def wp_get(self, ftp: bool, n: int) -> float:
        """Seconds from `wp list` (or `wp ftp`) to the "Saved waypoints" line that ends it."""
        with self.cv:
            start = len(self.lines)
        t0 = time.perf_counter()
        self.p.stdin.write("wp ftp\n" if ftp else "wp list\n")
        self.p.stdin.flush()
        _, (t_done, _) = self.wait_for(r"Saved waypoints to|failed ftp download", start, 120)
        got = sum(1 for _, line in self.lines[start:] if re.search(r" p1=.* cur=\d+ auto=\d+$", line))
        if got != n + 1:
            raise SystemExit(f"MAVProxy {'wp ftp' if ftp else 'wp list'}: {got} items printed, {n + 1} expected")
        return t_done - t0

    def close(self):
        self.p.terminate()
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()


def time_mavproxy(exe: str, conn: str, n: int, repeat: int, workdir: Path, ftp: bool = False) -> tuple[float, float]:
    path = workdir / f"m{n}.waypoints"
    waypoints.write(mission(n), path)
    mp = MavProxy(exe, conn, workdir)
    try:
        runs = [(mp.wp_ftpload if ftp else mp.wp_load)(path) for _ in range(repeat)]
    finally:
        mp.close()
    time.sleep(0.5)  # let the vehicle notice the disconnection before the next client
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def time_dronectl_download(conn: str, n: int, repeat: int, ftp: bool) -> float:
    m, runs = mission(n), []
    master = link.connect(conn, 30)
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            got = transfer.download(master, fence_and_rally=False, method="ftp" if ftp else "items")
            runs.append(time.perf_counter() - t0)
            assert transfer.differences(m, got) == [], "the download differs from the mission uploaded"
    finally:
        master.close()
    return statistics.median(runs)


def time_mavproxy_download(exe: str, conn: str, n: int, repeat: int, workdir: Path, ftp: bool) -> float:
    mp = MavProxy(exe, conn, workdir)
    try:
        runs = [mp.wp_get(ftp, n) for _ in range(repeat)]
    except SystemExit as exc:  # not done in 120 s (on a lossy link): said, and the run goes on
        print(str(exc).splitlines()[0], flush=True)
        return float("nan")
    finally:
        mp.close()
    time.sleep(0.5)
    return statistics.median(runs)


def set_uart_loss(conn: str, pct: float) -> None:
    """ArduPilot SITL's SIM_UART_LOSS: each write to a UART loses a byte with probability pct % x its size (so a
    263-byte FTP packet is lost 4x as often as a 63-byte mission item, as bit errors on a radio do)."""
    master = link.connect(conn, 30)
    try:
        for _ in range(20):
            master.mav.param_set_send(master.target_system, master.target_component, b"SIM_UART_LOSS", pct,
                                      mavutil.mavlink.MAV_PARAM_TYPE_REAL32)
            got = master.recv_match(type="PARAM_VALUE", blocking=True, timeout=0.5)
            if got is not None and got.param_id == "SIM_UART_LOSS" and abs(got.param_value - pct) < 1e-6:
                return
        raise SystemExit("SITL did not take SIM_UART_LOSS")
    finally:
        master.close()


def bench_download(name: str, conn: str, sizes, repeat: int, mavproxy: str | None, workdir: Path,
                   uart_loss: float = 0.0) -> list[dict]:
    rows = []
    for n in sizes:
        if uart_loss:
            set_uart_loss(conn, 0.0)
        master = link.connect(conn, 30)
        try:  # the mission to read, put there once by FTP
            placeholder = MissionItem(CMD_NAV_WAYPOINT, FRAME_GLOBAL, 0, 0, 0, 0, *HOME)
            transfer.upload_items_ftp(master, [placeholder, *mission(n).items], transfer.TYPE_MISSION)
        finally:
            master.close()
        if uart_loss:
            set_uart_loss(conn, uart_loss)
            name = f"SITL {uart_loss:g}%"
        for ftp in (False, True):
            label, peer = ("FTP  ", "wp ftp ") if ftp else ("items", "wp list")
            d = time_dronectl_download(conn, n, repeat, ftp)
            row = {"vehicle": name, "direction": "download", "method": label.strip(), "items": n, "dronectl_s": d}
            if mavproxy:
                time.sleep(0.5)
                row["mavproxy_s"] = time_mavproxy_download(mavproxy, conn, n, repeat, workdir, ftp)
                row["ratio"] = row["mavproxy_s"] / d
            rows.append(row)
            print(f"{name:8s} download {label} {n:4d} items: dronectl {d:6.3f} s" + (
                f"   MAVProxy {peer} {row['mavproxy_s']:6.3f} s   MAVProxy/dronectl {row['ratio']:.2f}x"
                if mavproxy else ""), flush=True)
    return rows


def bench(name: str, conn: str, sizes, repeat: int, mavproxy: str | None, workdir: Path) -> list[dict]:
    rows = []
    for ftp in (False, True):
        label, peer = ("FTP  ", "wp ftpload") if ftp else ("items", "wp load   ")
        for n in sizes:
            d = time_dronectl(conn, n, repeat, ftp)
            row = {"vehicle": name, "method": label.strip(), "items": n, "dronectl_s": d}
            if mavproxy:
                time.sleep(0.5)
                row["mavproxy_s"], row["mavproxy_self_s"] = time_mavproxy(mavproxy, conn, n, repeat, workdir, ftp)
                row["ratio"] = row["mavproxy_s"] / d
            rows.append(row)
            print(f"{name:8s} {label} {n:4d} items: dronectl {d:6.3f} s" + (
                f"   MAVProxy {peer} {row['mavproxy_s']:6.3f} s (self-reported {row['mavproxy_self_s']:.2f} s)"
                f"   MAVProxy/dronectl {row['ratio']:.2f}x" if mavproxy else ""), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sitl", default=os.environ.get("DRONECTL_SITL_BIN"), help="arducopter SITL binary")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 600])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-mavproxy", action="store_true")
    ap.add_argument("--download-only", action="store_true", help="skip the uploads")
    ap.add_argument("--sitl-uart-loss", type=float, default=0.0, metavar="PCT",
                    help="downloads from SITL again with SIM_UART_LOSS=PCT (byte loss on its writes)")
    args = ap.parse_args()

    mavproxy = None
    if not args.no_mavproxy:
        mavproxy = shutil.which("mavproxy.py", path=str(Path(sys.executable).parent)) or shutil.which("mavproxy.py")
        if not mavproxy:
            print("MAVProxy not found: `.venv/bin/pip install mavproxy` to compare (timing dronectl only)")
    workdir = Path(tempfile.mkdtemp(prefix="upload-bench-"))
    print(f"upload benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}, speed-up 1, "
          f"median of {args.repeat}")
    rows = []
    from dronectl.sim.vehicle import start_vehicle

    h = start_vehicle(home=HOME, speedup=1.0, gps_delay_s=0.5, ekf_delay_s=1.0, storage_delay_s=0.2)
    try:
        wait_position(h.connection_string)
        if not args.download_only:
            rows += bench("built-in", h.connection_string, args.sizes, args.repeat, mavproxy, workdir)
        rows += bench_download("built-in", h.connection_string, args.sizes, args.repeat, mavproxy, workdir)
    finally:
        h.stop()
    if args.sitl:
        from dronectl.sim.sitl import start_sitl

        s = start_sitl(args.sitl, home=HOME, speedup=1.0, camera=False)
        try:
            wait_position(s.connection_string)
            if not args.download_only:
                rows += bench("SITL", s.connection_string, args.sizes, args.repeat, mavproxy, workdir)
            rows += bench_download("SITL", s.connection_string, args.sizes, args.repeat, mavproxy, workdir)
            if args.sitl_uart_loss:
                rows += bench_download("SITL", s.connection_string, args.sizes, args.repeat, mavproxy, workdir,
                                       args.sitl_uart_loss)
        finally:
            s.stop()
    else:
        print("SITL: skipped (set DRONECTL_SITL_BIN or pass --sitl)")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
