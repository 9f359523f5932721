"""The sandbox page's own small HTTP server: the static page and its JSON endpoints."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.sandbox.api import BadRequest, SandboxApi

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# A page that renders untrusted names must not be able to run anything it did not ship.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def load_static() -> dict[str, bytes]:
    """The page's files, read once from the package (they ship in the wheel)."""
    folder = resources.files("bot.sandbox").joinpath("static")
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and any(entry.name.endswith(s) for s in _TYPES)
    }


class SandboxServer(ThreadingHTTPServer):
    """Serves the page on loopback; a thread per request, so long-polls do not block clicks."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: SandboxApi) -> None:
        self.api = api
        self.static = load_static()
        super().__init__(address, _Handler)
        self.port: int = self.server_address[1]

    def start(self) -> threading.Thread:
        thread = threading.Thread(
            target=self.serve_forever, args=(0.2,), name="sandbox-web", daemon=True
        )
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: SandboxServer

    def log_message(self, format: str, *args: object) -> None:
        log.debug("sandbox web: " + format, *args)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if not self._trusted_host():
            return
        if url.path == "/sandbox/state":
            self._state(parse_qs(url.query))
            return
        name = "index.html" if url.path == "/" else url.path.removeprefix("/static/")
        body = self.server.static.get(name) if url.path in ("/", f"/static/{name}") else None
        if body is None:
            self._send(404, b"not found", "text/plain; charset=utf-8")
            return
        suffix = name[name.rfind(".") :]
        self._send(200, body, _TYPES[suffix])

    def do_POST(self) -> None:
        if not self._trusted_host():
            return
        actions = {
            "/sandbox/command": self.server.api.command,
            "/sandbox/click": self.server.api.click,
            "/sandbox/install": self.server.api.install,
            "/sandbox/submit": self.server.api.submit,
            "/sandbox/close": self.server.api.close,
            "/sandbox/home": self.server.api.open_home,
        }
        action = actions.get(urlsplit(self.path).path)
        if action is None:
            self._json(404, {"ok": False, "error": "not found"})
            return
        # Another web site can make a browser POST a form here, but not JSON (that
        # needs a CORS preflight, which this server never grants).
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            self._json(415, {"ok": False, "error": "send JSON"})
            return
        try:
            data = self._body()
            self._json(200, action(data))
        except BadRequest as exc:
            self._json(400, {"ok": False, "error": str(exc)})
        except OSError as exc:  # the bot did not answer at all
            self._json(502, {"ok": False, "error": f"the bot did not answer: {exc}"})

    def _state(self, query: dict[str, list[str]]) -> None:
        user = (query.get("user") or [""])[0]
        since_text = (query.get("since") or [""])[0]
        wait_text = (query.get("wait") or ["0"])[0]
        try:
            since = int(since_text) if since_text else None
            wait = float(wait_text)
            self._json(200, self.server.api.state(user, since, wait))
        except (BadRequest, ValueError) as exc:
            self._json(400, {"ok": False, "error": str(exc)})

    def _trusted_host(self) -> bool:
        # A DNS-rebinding page reaches us under its own host name; only loopback names may.
        host = self.headers.get("Host", "").rsplit(":", 1)[0]
        if host in ("127.0.0.1", "localhost", "[::1]"):
            return True
        self._json(403, {"ok": False, "error": "open the sandbox at http://127.0.0.1"})
        return False

    def _body(self) -> dict[str, Any]:
        raw = (self.headers.get("Content-Length") or "0").strip()
        # ASCII digits only: a negative length would be read(-1), to the end of the
        # stream, and the handler would wait for the client to hang up.
        if not (raw.isascii() and raw.isdigit()):
            raise BadRequest("bad Content-Length")
        length = int(raw)
        if length > MAX_BODY_BYTES:
            raise BadRequest("request too large")
        try:
            data = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            raise BadRequest("the body is not JSON") from None
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object")
        return data

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", _CSP)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The tab was closed or reloaded mid long-poll: nobody is left to answer.
            log.debug("sandbox web: the page went away before its answer")
