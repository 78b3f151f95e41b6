"""Simulation: ArduPilot SITL launcher, built-in MAVLink test vehicle, synthetic camera (``camera``)."""
