"""``dronectl serve``: the web map of an archive, for the users ``dronectl users add`` created."""

from __future__ import annotations

import click

from dronectl.cli.archive import archive_option
from dronectl.cli.options import zones_option


@click.command()
@archive_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (another than loopback: put a TLS proxy in front).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free port; the URL printed says which).")
@click.option("--tiles", metavar="URL", help="Basemap tile URL template with {z}/{x}/{y} (default: no basemap).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes sharing the port (about one per core).")
@click.option("--header-timeout", type=click.FloatRange(0.5, 300), default=10.0, show_default=True, metavar="S",
              help="Seconds a connection may take to send a request's headers (also the idle time of a kept-alive "
                   "connection at most).")
@click.option("--max-connections", type=click.IntRange(8, 100_000), default=512, show_default=True, metavar="N",
              help="Connections open at once (beyond: the oldest idle one is closed).")
@click.option("--session-hours", type=click.FloatRange(0.001, 720), default=12.0, show_default=True, metavar="H",
              help="How long a login on the page lasts (logout, 'users revoke' and 'users rotate' end it before).")
@click.option("--base-url", metavar="URL",
              help="The URL users open (behind a TLS proxy: https://drones.example.fr); links are built from it and "
                   "only its host is answered, besides this machine's loopback names.")
@click.option("--shared-archive", is_flag=True,
              help="Serve an archive that other accounts of this machine can read (refused otherwise).")
@zones_option
def serve(archive_path, host, port, tiles, zones_file, workers, header_timeout, max_connections, session_hours,
          base_url, shared_archive):
    """Serve the web map: footprints, zones, thumbnails, images, exports; login by token."""
    from dronectl.archive.archive import check_private
    from dronectl.web import serve as run
    from dronectl.web.server import LOOPBACK

    if not shared_archive:
        check_private(archive_path)

    def ready(url):
        click.echo(f"dronectl serve: {url} (archive {archive_path}); Ctrl-C stops", nl=True)
        if host not in LOOPBACK:
            click.echo("dronectl serve: warning: listening beyond this machine over plain HTTP; tokens travel in "
                       "clear unless a TLS proxy is in front", err=True)

    run(archive_path, host, port, tiles, zones_file, on_ready=ready, workers=workers, header_timeout_s=header_timeout,
        max_connections=max_connections, session_hours=session_hours, base_url=base_url)
