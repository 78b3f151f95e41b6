"""The web map: ``dronectl serve`` (an ASGI app on uvicorn) over an archive, with per-user access.

Python entry point::

    from dronectl.web import create_app, serve
    app = create_app("archive")               # any ASGI server
    serve("archive", host="127.0.0.1", port=8000)   # uvicorn, until SIGINT/SIGTERM
"""

from dronectl.web.app import create_app
from dronectl.web.server import serve

__all__ = ["create_app", "serve"]
