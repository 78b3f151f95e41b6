"""MAVLink through pymavlink: the link, the mission protocol, and flying a mission."""
