"""MAVLink: links (link), the mission protocol (transfer, ftp), flights (flight).

MAVLink 2 is required (mission types for fence and rally): set before pymavlink is first imported.
"""

import os

os.environ.setdefault("MAVLINK20", "1")
