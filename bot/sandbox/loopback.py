"""A loopback HTTP server that can stop listening and listen again on the same port.

What the stand-ins (the Slack one, the tests' upstream receiver) are served by, so a
test can make a service refuse connections and come back where clients still point.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer


class Loopback:
    """Serves what `make_server((host, port))` builds, in a daemon thread, while up."""

    def __init__(
        self,
        make_server: Callable[[tuple[str, int]], ThreadingHTTPServer],
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._make_server = make_server
        self.host = host
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def up(self) -> None:
        """Listen (again), on the same port as before. Calling it again does nothing."""
        if self._server is not None:
            return
        server = self._make_server((self.host, self.port))
        server.daemon_threads = True
        # Keep the port chosen for port 0, so a rebind leaves every URL handed out valid.
        self.port = server.server_address[1]
        # A short poll interval keeps shutdown(), and so down(), quick.
        thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        thread.start()
        self._server, self._thread = server, thread

    def down(self) -> None:
        """Close the listening socket: clients get "connection refused" until up() again."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        thread.join()
        self._server = self._thread = None
