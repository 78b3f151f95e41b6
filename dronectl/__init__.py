"""dronectl: plan survey flights over city zones, fly them over MAVLink, archive the imagery by service."""

__version__ = "0.1.0"
