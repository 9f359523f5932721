"""SIMS ID's own list of installations: read from a file or URL, and validated row by row.

The list is a CSV with the header of docs/reconcile.md,
or JSON lines of objects with the same fields nested. Either all of it is good or none
of it is used: a bad row or a missing column is a SnapshotError naming the line and
field, and nothing is compared, let alone changed. Its text names the line, the field
and the kind of problem, never a value from the list: it goes to the channel, /healthz
and the log as it is, and a row with a value left out puts a secret in another field.

Fetching: `https://` (or `http://` to this machine only, for tests and a local relay;
never with a user name or password in the URL) with `Authorization: Bearer <token>`,
within a size limit and one time limit for connect, headers and body together (which a
shutdown also ends), following redirects only on the same scheme, host and port, so the
token never travels elsewhere; `file://` and plain paths are read from disk. Every
failure to fetch is a FetchError naming it, never another exception.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import http.client
import io
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bot import urls
from store.reconcile.types import Listed

MAX_BYTES = 256 * 1024 * 1024  # 200,000 rows with credentials are about 45 MB
TIMEOUT_SECONDS = 30.0  # per connect or read
TOTAL_SECONDS = 300.0  # the whole fetch: connect, headers and body (tests lower it)
WATCH_INTERVAL = 0.2  # how soon a shutdown ends a fetch
MAX_ERRORS_SHOWN = 20
# Ten times the largest list expected (200,000); each row held costs a few hundred bytes,
# so the cap, not the byte limit, is what bounds a list's memory (BENCHMARKS.md).
MAX_ROWS = 2_000_000
_SHARED_MAX = 10_000

REQUIRED = ("application.id", "application.name", "site.id", "site.name", "enabled")
OPTIONAL = ("site.urn", "site.dfe_number", "client_key", "client_secret")
HEADER = ",".join(REQUIRED[:4] + OPTIONAL[:2] + REQUIRED[4:] + OPTIONAL[2:])

_YES = frozenset({"yes", "true", "1", "y", "on"})
_NO = frozenset({"no", "false", "0", "n", "off"})
# Every field, in the order rows are read in, and the longest each may be.
FIELDS = (
    "application.id",
    "application.name",
    "site.id",
    "site.name",
    "site.urn",
    "site.dfe_number",
    "enabled",
    "client_key",
    "client_secret",
)
_LIMIT = (200, 500, 200, 500, 100, 100, 0, 64, 200)
_ENABLED = dict.fromkeys(_YES, True) | dict.fromkeys(_NO, False)
_NO_SPACE = re.compile(r"\S+\Z")
_BOM = codecs.BOM_UTF8
_SPACE = re.compile(rb"\s*")


class SnapshotError(Exception):
    """The list cannot be used; the message names the source, line and field at fault."""


class FetchError(SnapshotError):
    """The list could not be fetched (network, HTTP status, size, time): try again later."""


# -- reading ------------------------------------------------------------------


def load(
    source: str,
    *,
    token: str | None = None,
    max_bytes: int = MAX_BYTES,
    stop: threading.Event | None = None,
) -> list[Listed]:
    """Every row of the list at `source` (a path, `file://`, or `https://` URL), validated;
    `stop` set (the bot shutting down) ends a fetch at once."""
    return parse(read_source(source, token=token, max_bytes=max_bytes, stop=stop))


def describe(source: str) -> str:
    """`source` fit to print: a URL without its user name, password or query string."""
    return urls.shown(source) if "://" in source else source


def read_source(
    source: str,
    *,
    token: str | None,
    max_bytes: int = MAX_BYTES,
    stop: threading.Event | None = None,
) -> bytes:
    """The raw bytes of the list. A URL that will not do is a SnapshotError, and every
    failure to fetch or read a FetchError: never another exception."""
    if source.lower().startswith(("http://", "https://")):
        why = urls.problem(source)
        if why:
            raise SnapshotError(f"SOURCE: {describe(source)}: {why}")
        return _fetch(source, token=token, max_bytes=max_bytes, stop=stop)
    if source.lower().startswith("file://"):
        try:
            path = Path(unquote(urlsplit(source).path))
        except ValueError:  # file://[x/
            raise SnapshotError("SOURCE: a malformed file:// URL") from None
    elif "://" in source:
        raise SnapshotError(f"SOURCE: {describe(source)}: only https://, file:// or a path")
    else:
        path = Path(source)
    try:
        if not path.is_file():
            raise FetchError(f"SOURCE: {path} does not exist")
        if path.stat().st_size > max_bytes:
            raise FetchError(f"SOURCE: {path} is over {max_bytes} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise FetchError(f"SOURCE: {path} could not be read ({exc.strerror or exc})") from None


class _SameOrigin(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to the same scheme, host and port: the bearer token stays
    there."""

    def __init__(self, origin: tuple[str, str, int] | None) -> None:
        self.origin = origin

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        if "@" in urlsplit(newurl).netloc or urls.origin(newurl) != self.origin:
            raise FetchError(
                f"SOURCE: redirected to {describe(newurl)}; redirects to another host are refused"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Watch:
    """The whole fetch's limit, and shutdown's way in: when the deadline passes or `stop`
    is set, every socket of the fetch is shut down, so whatever read or connect is
    waiting returns at once. Each read's own timeout cannot do this: a server sending a
    byte just inside it keeps a read (and the job, and a stopping `worker`) going for
    ever, and a check between reads comes only when a read returns."""

    def __init__(self, seconds: float, stop: threading.Event | None) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.stop = stop or threading.Event()
        self.fired: str | None = None  # "time" or "stop"
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="list-fetch-watch", daemon=True)

    def __enter__(self) -> _Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def _run(self) -> None:
        while not self._done.is_set():
            if self.stop.is_set():
                self._fire("stop")
                return
            left = self.deadline - time.monotonic()
            if left <= 0:
                self._fire("time")
                return
            self._done.wait(min(left, WATCH_INTERVAL))

    def _fire(self, why: str) -> None:
        with self._lock:
            self.fired = why
            for sock in self._sockets:
                _shut(sock)

    def connect(
        self,
        address: tuple[str, int],
        timeout: float | None = None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        """socket.create_connection, with each socket watched from before its connect."""
        host, port = address
        last: OSError | None = None
        for family, kind, proto, _name, where in socket.getaddrinfo(
            host, port, 0, socket.SOCK_STREAM
        ):
            sock = socket.socket(family, kind, proto)
            try:
                # A duplicate, as TLS takes the socket over (the original object is then
                # empty); shutting down either ends the one connection.
                with self._lock:
                    if self.fired:  # shutting down an unconnected socket does nothing
                        raise OSError("the fetch was stopped")
                    self._sockets.append(sock.dup())
                sock.settimeout(min(TIMEOUT_SECONDS, max(self.deadline - time.monotonic(), 0.01)))
                if source_address:
                    sock.bind(source_address)
                sock.connect(where)
                sock.settimeout(timeout if isinstance(timeout, int | float) else TIMEOUT_SECONDS)
                return sock
            except OSError as exc:
                sock.close()
                last = exc
        raise last or OSError(f"no address for {host}")

    def handler(self) -> urllib.request.BaseHandler:
        """urllib's http and https handlers, making their connections with `connect`."""
        watch = self

        def watched(http_class: Any) -> Any:
            def make(host: str, **kwargs: Any) -> Any:
                conn = http_class(host, **kwargs)
                conn._create_connection = watch.connect
                return conn

            return make

        class Handler(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
            def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
                return super().do_open(watched(http_class), req, **kwargs)

        return Handler()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected yet, or already closed
        sock.shutdown(socket.SHUT_RDWR)


def _fetch(url: str, *, token: str | None, max_bytes: int, stop: threading.Event | None) -> bytes:
    # Only http(s) gets here (read_source checked the URL).
    accept = {"Accept": "text/csv, application/x-ndjson"}
    request = urllib.request.Request(url, headers=accept)  # noqa: S310  (http(s) only, above)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    where = describe(url)
    with _Watch(TOTAL_SECONDS, stop) as watch:
        opener = urllib.request.build_opener(watch.handler(), _SameOrigin(urls.origin(url)))
        try:
            data = _download(opener, request, where, max_bytes)
            failure = None
        except FetchError as exc:
            data, failure = b"", str(exc)
        except urllib.error.HTTPError as exc:
            data, failure = b"", f"SOURCE: {where} answered HTTP {exc.code}"
        except urllib.error.URLError as exc:
            data, failure = b"", f"SOURCE: {where} could not be fetched ({_reason(exc.reason)})"
        except (http.client.HTTPException, OSError, ValueError, OverflowError) as exc:
            # A broken status line or chunk, a header line over 64 KiB, too many headers,
            # a bad port: all "could not be fetched", none a traceback.
            data, failure = b"", f"SOURCE: {where}: a broken answer ({_reason(exc)})"
    # Checked first: a body cut off by the watch can look whole (no Content-Length).
    if watch.fired == "time":
        raise FetchError(
            f"SOURCE: {where} took over {watch.seconds:.0f} s (connect, headers and body "
            "together); nothing changed"
        )
    if watch.fired == "stop":
        raise FetchError(f"SOURCE: {where}: fetch stopped, the bot is shutting down")
    if failure is not None:
        raise FetchError(failure)
    return data


def _reason(exc: object) -> str:
    """An exception's words, cut short; never the server's own status line, which goes
    on to the channel and /healthz."""
    if isinstance(exc, http.client.BadStatusLine | http.client.UnknownProtocol):
        return "its status line is not HTTP/1.x"
    text = str(exc) or type(exc).__name__
    text = text.splitlines()[0] if text.strip() else type(exc).__name__
    return text if len(text) <= 120 else text[:119] + "…"


def _download(
    opener: urllib.request.OpenerDirector, request: urllib.request.Request, where: str, limit: int
) -> bytes:
    with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
        header = response.headers.get("Content-Length")
        declared = None
        if header is not None:
            # ASCII digits only: str.isdigit() also takes "²", which int() does not.
            if not (header.isascii() and header.isdigit()):
                raise FetchError(f"SOURCE: {where}: a broken answer (Content-Length not a number)")
            declared = int(header)
        if declared is not None and declared > limit:
            raise FetchError(f"SOURCE: {where} is over {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while chunk := response.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise FetchError(f"SOURCE: {where} is over {limit} bytes")
            chunks.append(chunk)
        # http.client ends a body cut short as quietly as a whole one: a truncated list
        # read as complete would uninstall every customer it lost.
        if declared is not None and size < declared:
            raise FetchError(
                f"SOURCE: {where} was cut short ({size} of {declared} bytes); nothing changed"
            )
        return b"".join(chunks)


# -- parsing ------------------------------------------------------------------


def parse(data: bytes, *, max_rows: int = MAX_ROWS) -> list[Listed]:
    """Every row, validated; SnapshotError names each bad row (the first few) by line.

    Read a line at a time from `data` (never a second copy of the whole list as text),
    and refused as soon as it has more than `max_rows` rows: each row held costs a few
    hundred bytes, so the cap is what bounds a list's memory.
    """
    start = len(_BOM) if data.startswith(_BOM) else 0
    _check_utf8(data, start)
    nul = data.find(b"\x00")
    if nul >= 0:
        # Checked once here, not in every cell (PostgreSQL text cannot hold NUL).
        line = data.count(b"\n", 0, nul) + 1
        raise SnapshotError(f"SOURCE: line {line}: contains a NUL character")
    first = _SPACE.match(data, start)
    if first is None or first.end() == len(data):
        raise SnapshotError(f"SOURCE: empty; expected a CSV with the header {HEADER}")
    json_lines = data[first.end() : first.end() + 1] == b"{"
    if data.count(b"\n") >= max_rows and sum(1 for _ in _lines(data, json_lines)) > max_rows:
        # Perhaps over the cap (a row is a line or more): counted first, holding nothing.
        raise SnapshotError(_over(max_rows))
    lines = _lines(data, json_lines)
    rows: list[Listed] = []
    at = array("L")  # the line of each row in `rows`: to name where a repeat was first
    errors: list[tuple[int, str]] = []
    repeats: dict[int, tuple[str, str]] = {}  # index in errors -> (what, the pair or key)
    sites: dict[str, set[str]] = {}  # application id -> its sites listed so far
    keys: set[str] = set()
    shared: dict[str, str] = {}
    count = 0
    for number, values in lines:
        count += 1
        if count > max_rows:
            raise SnapshotError(_over(max_rows))
        try:
            row = _row(values, shared)
        except ValueError as exc:
            errors.append((number, str(exc)))
            continue
        listed = sites.get(row.application_id)
        if listed is None:
            listed = sites[row.application_id] = set()
        if row.site_id in listed:
            repeats[len(errors)] = ("pair", f"{row.application_id}\x00{row.site_id}")
            errors.append((number, "application.id, site.id: already listed on line {}"))
            continue
        key = row.client_key
        if key is not None:
            if key in keys:
                repeats[len(errors)] = ("key", key)
                errors.append((number, "client_key: also given on line {}"))
                continue
            keys.add(key)
        listed.add(row.site_id)
        rows.append(row)
        at.append(number)
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        firsts = _first_lines(rows, at, [repeats[i] for i in range(len(shown)) if i in repeats])
        described = [
            f"line {number}: " + (problem.format(firsts[repeats[i]]) if i in repeats else problem)
            for i, (number, problem) in enumerate(shown)
        ]
        more = len(errors) - len(shown)
        listing = "\n  ".join(described) + (f"\n  … and {more} more" if more else "")
        noun = "row" if len(errors) == 1 else "rows"
        raise SnapshotError(f"SOURCE: {len(errors)} bad {noun}, nothing compared:\n  {listing}")
    return rows


def _over(max_rows: int) -> str:
    return f"SOURCE: more than {max_rows:,} rows, the most a list may have; nothing compared"


def _lines(data: bytes, json_lines: bool) -> Iterator[tuple[int, tuple[Any, ...] | str]]:
    """Each row of `data` with its line number, read a line at a time."""
    # "\n" only for JSON: a JSON string may hold U+2028, U+0085 and (escaped) "\r".
    text = io.TextIOWrapper(
        io.BytesIO(data), encoding="utf-8-sig", newline="\n" if json_lines else ""
    )
    return _json_lines(text) if json_lines else _csv_rows(text)


def _check_utf8(data: bytes, start: int) -> None:
    """SnapshotError unless `data` is UTF-8, checked a piece at a time (a whole decoded
    copy of a list can be four times its size)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    step = 1 << 20
    for offset in range(start, len(data), step):
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(view[offset : offset + step], final=offset + step >= len(data))
        except UnicodeDecodeError as exc:
            where = offset - pending + exc.start
            raise SnapshotError(f"SOURCE: not UTF-8 text (byte {where})") from None


def _first_lines(
    rows: list[Listed], at: array[int], wanted: list[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """The line each of the `wanted` pairs and keys was first given on (the rows kept)."""
    firsts: dict[tuple[str, str], int] = {}
    if not wanted:
        return firsts
    looked = set(wanted)
    for row, number in zip(rows, at, strict=True):
        pair = f"{row.application_id}\x00{row.site_id}"
        for found in (("pair", pair), ("key", row.client_key or "")):
            if found in looked:
                firsts.setdefault(found, number)
    return firsts


def _csv_rows(text: io.TextIOWrapper) -> Iterator[tuple[int, tuple[Any, ...] | str]]:
    reader = csv.reader(text)
    header: list[str] = []
    while not any(header):  # blank lines before the header
        row = next(reader, None)
        if row is None:  # only blank lines, or commas and spaces
            raise SnapshotError(f"SOURCE: no header; expected a CSV with the header {HEADER}")
        header = [name.strip() for name in row]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise SnapshotError(
            f"SOURCE: line 1: missing column {', '.join(missing)} (the header is {HEADER})"
        )
    # Only our own names are shown: a header may be a data row (its values, secrets).
    repeated = [name for name in FIELDS if header.count(name) > 1]
    if repeated:
        raise SnapshotError(f"SOURCE: line 1: column {', '.join(repeated)} given twice")
    # Other columns (a report's extras) are ignored; an absent optional one reads as empty.
    width = len(header)
    where = [header.index(name) if name in header else width for name in FIELDS]
    try:
        for row in reader:
            if not any(row):
                continue
            if len(row) != width:
                # Never padded or cut to fit: a value left out (not left empty) shifts
                # the rest, and a secret would be read as another field.
                fields = f"{len(row)} field" + ("" if len(row) == 1 else "s")
                yield reader.line_num, f"{fields} where the header has {width}"
                continue
            row.append("")  # what an absent optional column reads
            yield reader.line_num, tuple([row[i] for i in where])
    except csv.Error as exc:
        # The csv module's messages name the problem, never the text it was reading.
        raise SnapshotError(f"SOURCE: line {reader.line_num}: not valid CSV ({exc})") from None


def _json_lines(text: io.TextIOWrapper) -> Iterator[tuple[int, tuple[Any, ...] | str]]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):
            yield number, "is not valid JSON"
            continue
        if not isinstance(data, dict):
            yield number, "must be a JSON object"
            continue
        flat: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, dict) and key in ("application", "site"):
                flat.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                flat[key] = value
        yield number, tuple([flat.get(name) for name in FIELDS])


def _text(value: Any, position: int, *, required: bool) -> str | None:
    """One text field, stripped; the common case (plain text within limits) is a few
    operations, as a 200,000-row list is checked cell by cell."""
    if value.__class__ is str:
        stripped: str = value.strip()  # not narrowed by the class test, which is faster
        if stripped and len(stripped) <= _LIMIT[position] and "\x00" not in stripped:
            return stripped
        value = stripped
    name = FIELDS[position]
    if value is None or value == "":
        if required:
            raise ValueError(f"{name} is missing")
        return None
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _text(str(value), position, required=required)  # URNs are numbers to some
        raise ValueError(f"{name}: must be text")
    if "\x00" in value:
        raise ValueError(f"{name}: must not contain NUL characters")
    raise ValueError(f"{name}: longer than {_LIMIT[position]} characters")


def _enabled(value: Any) -> bool:
    if value.__class__ is str:
        word = value.strip().lower()
        if word in _YES:
            return True
        if word in _NO:
            return False
    elif isinstance(value, bool):
        return value
    elif isinstance(value, int) and value in (0, 1):
        return bool(value)
    if value is None or value == "":
        raise ValueError("enabled is missing")
    # Not the value: a shifted row puts a client secret here.
    raise ValueError("enabled: must be yes/no, true/false or 1/0")


def _share(shared: dict[str, str], value: str) -> str:
    """One str object for every row's copy of an application's id or name (a list has a
    few applications and up to millions of rows); up to _SHARED_MAX distinct ones."""
    if len(shared) < _SHARED_MAX:
        return shared.setdefault(value, value)
    return shared.get(value, value)


def _fast_row(values: tuple[Any, ...] | str, shared: dict[str, str]) -> Listed | None:
    """The row when it is plainly good text (a CSV row usually is), else None: then
    `_row` checks it field by field and names what is wrong."""
    if values.__class__ is not tuple:
        return None
    try:
        app_id, app_name, site_id, site_name, urn, dfe, enabled, key, secret = (
            v.strip() for v in values
        )
    except (AttributeError, ValueError):
        return None
    on = _ENABLED.get(enabled.lower())
    if (
        on is None
        or not (app_id and app_name and site_id and site_name)
        or len(app_id) > 200
        or len(site_id) > 200
        or len(app_name) > 500
        or len(site_name) > 500
        or len(urn) > 100
        or len(dfe) > 100
    ):
        return None
    if key or secret:
        if not (key and secret and len(key) <= 64 and len(secret) <= 200):
            return None
        if not (_NO_SPACE.match(key) and _NO_SPACE.match(secret)):
            return None
    return Listed(
        _share(shared, app_id),
        _share(shared, app_name),
        site_id,
        site_name,
        on,
        urn or None,
        dfe or None,
        key or None,
        secret or None,
    )


def _row(values: tuple[Any, ...] | str, shared: dict[str, str]) -> Listed:
    fast = _fast_row(values, shared)
    if fast is not None:
        return fast
    if isinstance(values, str):
        raise ValueError(values)
    app_id, app_name, site_id, site_name, urn, dfe, enabled, key, secret = values
    key = _text(key, 7, required=False)
    secret = _text(secret, 8, required=False)
    if key is not None and not _NO_SPACE.match(key):
        raise ValueError("client_key: must not contain spaces")
    if secret is not None and not _NO_SPACE.match(secret):
        raise ValueError("client_secret: must not contain spaces")  # never echo a secret
    if (key is None) != (secret is None):
        missing = "client_secret" if secret is None else "client_key"
        raise ValueError(f"{missing} is missing: give the client key and secret together")
    return Listed(
        _share(shared, _text(app_id, 0, required=True) or ""),
        _share(shared, _text(app_name, 1, required=True) or ""),
        _text(site_id, 2, required=True) or "",
        _text(site_name, 3, required=True) or "",
        _enabled(enabled),
        _text(urn, 4, required=False),
        _text(dfe, 5, required=False),
        key,
        secret,
    )
