"""Launching ArduPilot SITL (ArduCopter) for dronectl: scratch folder, parameters, readiness, teardown.

``start_sitl(binary)`` runs the ``arducopter`` binary (``--sitl PATH`` or ``DRONECTL_SITL_BIN``) in a scratch
folder with a quad model, the home and speed-up asked for, and a defaults file with what an ArduCopter SITL
needs (the values of ArduPilot's own ``copter.parm``). A camera is configured too, so that
``DO_SET_CAM_TRIGG_DIST`` produces ``CAMERA_FEEDBACK``: ``CAM1_TYPE`` takes effect only after a reboot and a
defaults file does not set it, so it is set over MAVLink and the vehicle rebooted once. Then the launcher waits
for a GPS fix (SITL answers uploads with NO_SPACE until it is ready), lets go of the link and returns a handle
whose ``connection_string`` is SITL's SERIAL0 (``tcp:127.0.0.1:5760`` + 10 x instance).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from dronectl.errors import InputError, LinkError
from dronectl.mavlink import link

# ArduPilot's Tools/autotest/default_params/copter.parm (the values a quad SITL is flown with).
COPTER_DEFAULTS = """\
FRAME_CLASS 1
FRAME_TYPE 0
FS_THR_ENABLE 1
BATT_MONITOR 4
COMPASS_OFS_X 5
COMPASS_OFS_Y 13
COMPASS_OFS_Z -18
COMPASS_OFS2_X 5
COMPASS_OFS2_Y 13
COMPASS_OFS2_Z -18
COMPASS_OFS3_X 5
COMPASS_OFS3_Y 13
COMPASS_OFS3_Z -18
FENCE_RADIUS 150
ATC_RAT_YAW_P 0.3
ATC_RAT_YAW_I 0.02
SIM_BARO_RND 0
INS_ACCOFFS_X 0.001
INS_ACCOFFS_Y 0.001
INS_ACCOFFS_Z 0.001
INS_ACCSCAL_X 1.001
INS_ACCSCAL_Y 1.001
INS_ACCSCAL_Z 1.001
INS_ACC2OFFS_X 0.001
INS_ACC2OFFS_Y 0.001
INS_ACC2OFFS_Z 0.001
INS_ACC2SCAL_X 1.001
INS_ACC2SCAL_Y 1.001
INS_ACC2SCAL_Z 1.001
MOT_THST_EXPO 0.65
MOT_THST_HOVER 0.39
MOT_BAT_VOLT_MIN 9.6
MOT_BAT_VOLT_MAX 12.8
"""
RC_DEFAULTS = "".join(f"RC{i}_MIN 1000\nRC{i}_MAX 2000\nRC{i}_TRIM 1500\n" for i in range(1, 9))
# Set over MAVLink, then reboot: a camera that triggers by distance and reports CAMERA_FEEDBACK.
CAMERA_PARAMS = {"CAM1_TYPE": 1}


def find_binary(path: str | os.PathLike | None = None) -> str:
    """The arducopter binary: ``path``, else $DRONECTL_SITL_BIN; InputError when missing."""
    path = path or os.environ.get("DRONECTL_SITL_BIN")
    if not path:
        raise InputError("no ArduPilot SITL binary: pass --sitl PATH or set DRONECTL_SITL_BIN to an arducopter "
                         "binary (build it with ./waf configure --board sitl && ./waf copter)")
    p = Path(path).expanduser()
    if not p.is_file() or not os.access(p, os.X_OK):
        raise InputError(f"SITL binary not found or not executable: {p}")
    return str(p)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_instance(first: int = 0, last: int = 40) -> int:
    """A SITL instance number whose TCP ports (5760/5762/5763 + 10 x instance) are all free."""
    for i in range(first, last):
        if all(_port_free(5760 + 10 * i + k) for k in (0, 2, 3)):
            return i
    raise LinkError("no free SITL instance: TCP ports 5760-6160 are all in use")


@dataclass
class SitlHandle:
    process: subprocess.Popen
    instance: int
    workdir: Path
    connection_string: str
    keep_workdir: bool = False

    @property
    def output(self) -> Path:
        return self.workdir / "sitl.log"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Terminate SITL (its whole process group) and remove the scratch folder."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _connect_retrying(conn: str, deadline: float, proc: subprocess.Popen, log: Path):
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LinkError(f"ArduPilot SITL exited with code {proc.returncode} at start-up; see {log}")
        try:
            return link.connect(conn, timeout_s=max(0.5, min(10.0, deadline - time.monotonic())))
        except LinkError as exc:
            last = exc
            time.sleep(0.2)
    raise LinkError(f"ArduPilot SITL did not answer on {conn}: {last}")


def _set_params(master, params: dict, deadline: float) -> None:
    from pymavlink import mavutil

    for name, value in params.items():
        while True:
            if time.monotonic() > deadline:
                raise LinkError(f"ArduPilot SITL did not confirm the parameter {name}")
            master.mav.param_set_send(master.target_system, master.target_component, name.encode(), float(value),
                                      mavutil.mavlink.MAV_PARAM_TYPE_REAL32)
            msg = master.recv_match(type="PARAM_VALUE", blocking=True, timeout=1.0)
            if msg is not None and msg.param_id == name and abs(msg.param_value - value) < 1e-6:
                break


def start_sitl(binary: str | None = None, home=(49.3817, 3.3236, 60.0), speedup: float = 1.0,
               instance: int | None = None, camera: bool = True, wait_armable: bool = False,
               timeout_s: float = 180.0, workdir: str | os.PathLike | None = None, gps: bool = True) -> SitlHandle:
    """Start ArduCopter SITL and return once it is ready for a ground station (see the module docstring).
    ``gps=False``: its simulated GPS is off (``SIM_GPS1_ENABLE 0``, a vehicle at the bench or indoors), and the
    launcher returns once SITL talks, without a fix or a home."""
    binary = find_binary(binary)
    if instance is None:
        instance = free_instance()
    home = tuple(float(v) for v in home) + ((0.0,) if len(home) == 2 else ())
    keep = workdir is not None
    wd = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="dronectl-sitl-"))
    wd.mkdir(parents=True, exist_ok=True)
    (wd / "dronectl.parm").write_text(COPTER_DEFAULTS + RC_DEFAULTS + ("" if gps else "SIM_GPS1_ENABLE 0\n"))
    log = wd / "sitl.log"
    cmd = [binary, "--model", "quad", "--home", f"{home[0]},{home[1]},{home[2]},0", "--speedup", f"{speedup:g}",
           "--defaults", str(wd / "dronectl.parm"), "-I", str(instance), "-w"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=wd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    conn = f"tcp:127.0.0.1:{5760 + 10 * instance}"
    handle = SitlHandle(proc, instance, wd, conn, keep_workdir=keep)
    deadline = time.monotonic() + timeout_s
    try:
        master = _connect_retrying(conn, deadline, proc, log)
        try:
            if camera:
                _set_params(master, CAMERA_PARAMS, deadline)
                time.sleep(0.5)  # let SITL write its parameter storage before the reboot
                from pymavlink import mavutil

                master.mav.command_long_send(master.target_system, master.target_component,
                                             mavutil.mavlink.MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN, 0, 1, 0, 0, 0, 0, 0, 0)
                master.recv_match(type="COMMAND_ACK", blocking=True, timeout=2.0)
                master.close()
                time.sleep(1.0)
                master = _connect_retrying(conn, deadline, proc, log)
            if gps:
                link.wait_ready(master, deadline, wait_armable)
        finally:
            master.close()
    except BaseException:
        handle.stop()
        raise
    return handle
