"""A local stand-in for wherever SIMS ID's list is served from: one document, a bearer token.

`ListServer(token)` serves `body` at `/list.csv` to requests that carry
`Authorization: Bearer <token>` (401 otherwise), counts the requests it answered, and can
redirect (`redirect_to`), fail (`status`), end the body early (`cut_short`: the
Content-Length of the whole body, then only its first line), answer with `raw` bytes as
they are (a broken status line or header), and send the body (or `raw`) a byte every
`trickle` seconds, to exercise the fetcher's refusals.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ListServer:
    """The list over HTTP on 127.0.0.1, bound to a free port."""

    def __init__(self, token: str, body: bytes = b"") -> None:
        self.token = token
        self.body = body
        self.status = 200
        self.redirect_to: str | None = None
        self.cut_short = False
        self.trickle: float | None = None
        self.raw: bytes | None = None
        self.requests = 0
        self.authorizations: list[str | None] = []
        # Set once a request is in (its headers read): a test waits on it, not on time.
        self.answering = threading.Event()
        # Set when the server stops: a trickling answer ends then rather than holding on.
        self._closing = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/list.csv"

    def __enter__(self) -> ListServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._closing.set()
        self._http.shutdown()
        self._http.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        auth = handler.headers.get("Authorization")
        with self._lock:
            self.requests += 1
            self.authorizations.append(auth)
        self.answering.set()
        if self.raw is not None:
            handler.close_connection = True
            if self.trickle is not None:
                self._trickle(handler, self.raw, self.trickle)
            else:
                handler.wfile.write(self.raw)
            return
        if self.redirect_to:
            handler.send_response(302)
            handler.send_header("Location", self.redirect_to)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        if auth != f"Bearer {self.token}":
            status, body = 401, b"unauthorized"
        else:
            status, body = self.status, self.body
        handler.send_response(status)
        handler.send_header("Content-Type", "text/csv")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if self.cut_short:  # the connection dropped after the header and first row
            body = b"".join(body.splitlines(keepends=True)[:2])
            handler.close_connection = True
        if self.trickle is not None:
            self._trickle(handler, body, self.trickle)
            return
        handler.wfile.write(body)

    def _trickle(self, handler: BaseHTTPRequestHandler, body: bytes, every: float) -> None:
        handler.close_connection = True
        for position in range(len(body)):
            try:
                handler.wfile.write(body[position : position + 1])
                handler.wfile.flush()
            except OSError:  # the client gave up
                return
            if self._closing.wait(every):
                return
