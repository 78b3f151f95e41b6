"""``dronectl sim vehicle``: the built-in MAVLink test vehicle."""

from __future__ import annotations

import signal
import threading

import click

from dronectl.cli.options import LATLON


@click.group()
def sim():
    """Simulators: the built-in MAVLink test vehicle."""


@sim.command("vehicle")
@click.option("--listen", default="tcp:127.0.0.1:5760", show_default=True, help="tcp:HOST:PORT to serve on.")
@click.option("--home", type=LATLON, default="49.3817,3.3236,60", show_default=True, help="LAT,LON,ALT_AMSL.")
@click.option("--speedup", type=click.FloatRange(0.1, 1000), default=1.0, show_default=True)
@click.option("--loss", type=click.FloatRange(0, 0.9), default=0.0, help="Packet loss, both ways (0-0.9).")
@click.option("--duplicate", type=click.FloatRange(0, 1), default=0.0, help="Share of packets sent twice.")
@click.option("--delay-ms", type=click.FloatRange(0, 5000), default=0.0, help="Delay of every packet sent.")
@click.option("--gps-delay", type=float, default=20.0, show_default=True, help="Simulated seconds until a GPS fix.")
@click.option("--ekf-delay", type=float, default=40.0, show_default=True, help="Simulated seconds until it can arm.")
def vehicle(listen, home, speedup, loss, duplicate, delay_ms, gps_delay, ekf_delay):
    """Serve the built-in test vehicle (a protocol stand-in for ArduCopter) until SIGTERM or Ctrl-C."""
    from dronectl.sim.vehicle import start_vehicle

    h = start_vehicle(listen, home=(home[0], home[1], home[2] if len(home) > 2 else 0.0), speedup=speedup, loss=loss,
                      duplicate=duplicate, delay_ms=delay_ms, gps_delay_s=gps_delay, ekf_delay_s=ekf_delay)
    click.echo(h.connection_string, err=False)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    h.stop()
