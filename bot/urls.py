"""The rules an http(s) URL the bot is given must meet, and how one is shown.

One place for them: the settings (SLACK_API_URL, SIMSID_UPSTREAM_URL,
SIMSID_RECONCILE_URL) and `simsid-bot reconcile URL` check URLs here, and everything that
prints a URL prints `shown(url)`, which leaves out any user name, password and query.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

# Plain http:// is accepted only to these: a token or a signed decision sent in the clear
# to another machine can be read (or changed) on the way.
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split(url: str) -> tuple[SplitResult, str, int | None] | None:
    """The parts, host and port of an http(s) URL with a host, or None when it has none or
    is malformed (`http://[::1/x`, a port that is not a number from 0 to 65535)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    return parts, host, port


def problem(url: str, *, http_anywhere: bool = False) -> str | None:
    """Why `url` will not do as an http(s) URL, in words that never repeat its user name
    or password; None when it will. Plain `http://` only to this machine unless
    `http_anywhere`."""
    split = _split(url)
    if split is None:
        return "must be an http(s) URL with a host (and a port from 0 to 65535, if any)"
    parts, host, _port = split
    if "@" in parts.netloc:
        # The token has a setting of its own; userinfo in a URL ends up in error texts.
        return "must not hold a user name or password (user:pass@host): give the token apart"
    if parts.scheme == "http" and not http_anywhere and host not in LOOPBACK:
        return "use https:// (http:// only to this machine)"
    return None


def origin(url: str) -> tuple[str, str, int] | None:
    """Scheme, host and port (the default one when none is given) of an http(s) URL."""
    split = _split(url)
    if split is None:
        return None
    parts, host, port = split
    return parts.scheme, host, port if port is not None else _DEFAULT_PORTS[parts.scheme]


def shown(url: str) -> str:
    """`url` fit to print: scheme, host, port and path; never a user name, password or
    query string (which may hold a token)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "a malformed URL"
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"
