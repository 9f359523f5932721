"""SIMS ID's own list of installations: read from a file or URL, and validated row by row.

The list is a CSV with the header of shared/INTERFACE.md ("Reconciling with SIMS ID"),
or JSON lines of objects with the same fields nested. Either all of it is good or none
of it is used: a bad row or a missing column is a SnapshotError naming the line and
field, and nothing is compared, let alone changed.

Fetching: `https://` (or `http://` to this machine only, for tests and a local relay)
with `Authorization: Bearer <SIMSID_RECONCILE_TOKEN>`, within a time and size limit,
following redirects only on the same scheme and host, so the token never travels
elsewhere; `file://` and plain paths are read from disk.
"""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from store.reconcile import Listed

MAX_BYTES = 256 * 1024 * 1024  # 200,000 rows with credentials are about 45 MB
TIMEOUT_SECONDS = 30.0  # per connect or read
TOTAL_SECONDS = 300.0  # the whole download
MAX_ERRORS_SHOWN = 20

REQUIRED = ("application.id", "application.name", "site.id", "site.name", "enabled")
OPTIONAL = ("site.urn", "site.dfe_number", "client_key", "client_secret")
HEADER = ",".join(REQUIRED[:4] + OPTIONAL[:2] + REQUIRED[4:] + OPTIONAL[2:])

_YES = frozenset({"yes", "true", "1", "y", "on"})
_NO = frozenset({"no", "false", "0", "n", "off"})
_LIMITS = {
    "application.id": 200,
    "application.name": 500,
    "site.id": 200,
    "site.name": 500,
    "site.urn": 100,
    "site.dfe_number": 100,
    "client_key": 64,
    "client_secret": 200,
}
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class SnapshotError(Exception):
    """The list cannot be used; the message names the source, line and field at fault."""


class FetchError(SnapshotError):
    """The list could not be fetched (network, HTTP status, size, time): try again later."""


# -- reading ------------------------------------------------------------------


def load(source: str, *, token: str | None = None, max_bytes: int = MAX_BYTES) -> list[Listed]:
    """Every row of the list at `source` (a path, `file://`, or `https://` URL), validated."""
    return parse(read_source(source, token=token, max_bytes=max_bytes))


def describe(source: str) -> str:
    """`source` fit to print: a URL without its query string, which may hold a token."""
    parts = urlsplit(source)
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.hostname}{parts.path}"
    return source


def read_source(source: str, *, token: str | None, max_bytes: int = MAX_BYTES) -> bytes:
    """The raw bytes of the list."""
    parts = urlsplit(source)
    if parts.scheme in ("http", "https"):
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise SnapshotError(
                f"SOURCE: {describe(source)}: use https:// (http:// only to this machine)"
            )
        return _fetch(source, token=token, max_bytes=max_bytes)
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
    elif "://" in source:
        raise SnapshotError(f"SOURCE: {source}: only https://, file:// or a path")
    else:
        path = Path(source)
    if not path.is_file():
        raise FetchError(f"SOURCE: {path} does not exist")
    if path.stat().st_size > max_bytes:
        raise FetchError(f"SOURCE: {path} is over {max_bytes} bytes")
    return path.read_bytes()


class _SameOrigin(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to the same scheme and host: the bearer token stays there."""

    def __init__(self, origin: tuple[str, str]) -> None:
        self.origin = origin

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        target = urlsplit(newurl)
        if (target.scheme, target.netloc) != self.origin:
            raise FetchError(
                f"SOURCE: redirected to {target.scheme}://{target.hostname}; "
                "redirects to another host are refused"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch(url: str, *, token: str | None, max_bytes: int) -> bytes:
    parts = urlsplit(url)
    opener = urllib.request.build_opener(_SameOrigin((parts.scheme, parts.netloc)))
    # Only http(s) gets here (read_source checked the scheme).
    accept = {"Accept": "text/csv, application/x-ndjson"}
    request = urllib.request.Request(url, headers=accept)  # noqa: S310
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    where = describe(url)
    deadline = time.monotonic() + TOTAL_SECONDS
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"SOURCE: {where} is over {max_bytes} bytes")
            chunks: list[bytes] = []
            size = 0
            while chunk := response.read(1 << 20):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"SOURCE: {where} is over {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise FetchError(f"SOURCE: {where} took over {TOTAL_SECONDS:.0f} s")
                chunks.append(chunk)
            return b"".join(chunks)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"SOURCE: {where} answered HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"SOURCE: {where} could not be fetched ({exc.reason})") from None
    except (TimeoutError, OSError) as exc:
        raise FetchError(f"SOURCE: {where} could not be fetched ({exc})") from None


# -- parsing ------------------------------------------------------------------


def parse(data: bytes) -> list[Listed]:
    """Every row, validated; SnapshotError names each bad row (the first few) by line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SnapshotError(f"SOURCE: not UTF-8 text (byte {exc.start})") from None
    stripped = text.lstrip()
    if not stripped:
        raise SnapshotError(f"SOURCE: empty; expected a CSV with the header {HEADER}")
    lines = _json_lines(text) if stripped.startswith("{") else _csv_rows(text)
    rows: list[Listed] = []
    errors: list[str] = []
    pairs: dict[tuple[str, str], int] = {}
    keys: dict[str, int] = {}
    for number, fields in lines:
        try:
            row = _row(fields)
        except ValueError as exc:
            errors.append(f"line {number}: {exc}")
            continue
        first = pairs.setdefault(row.pair, number)
        if first != number:
            errors.append(f"line {number}: application.id, site.id: already listed on line {first}")
            continue
        if row.client_key is not None:
            owner = keys.setdefault(row.client_key, number)
            if owner != number:
                errors.append(f"line {number}: client_key: also given on line {owner}")
                continue
        rows.append(row)
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        more = len(errors) - len(shown)
        text = "\n  ".join(shown) + (f"\n  … and {more} more" if more else "")
        noun = "row" if len(errors) == 1 else "rows"
        raise SnapshotError(f"SOURCE: {len(errors)} bad {noun}, nothing compared:\n  {text}")
    return rows


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] = []
    while not any(header):  # blank lines before the header
        header = [name.strip() for name in next(reader)]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise SnapshotError(
            f"SOURCE: line 1: missing column {', '.join(missing)} (the header is {HEADER})"
        )
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        raise SnapshotError(f"SOURCE: line 1: column {', '.join(repeated)} given twice")
    # Other columns (a report's extras) are ignored.
    wanted = [(name, header.index(name)) for name in REQUIRED + OPTIONAL if name in header]
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            yield (
                reader.line_num,
                {name: row[i].strip() if i < len(row) else "" for name, i in wanted},
            )
    except csv.Error as exc:
        raise SnapshotError(f"SOURCE: line {reader.line_num}: not valid CSV ({exc})") from None


def _json_lines(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):
            yield number, {"": "is not valid JSON"}
            continue
        if not isinstance(data, dict):
            yield number, {"": "must be a JSON object"}
            continue
        flat: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, dict) and key in ("application", "site"):
                flat.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                flat[key] = value
        yield number, flat


def _text(fields: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        if required:
            raise ValueError(f"{name} is missing")
        return None
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)  # URNs are numbers to some exporters
        else:
            raise ValueError(f"{name}: must be text")
    value = value.strip()
    if not value:
        if required:
            raise ValueError(f"{name} is missing")
        return None
    if len(value) > _LIMITS[name]:
        raise ValueError(f"{name}: longer than {_LIMITS[name]} characters")
    if "\x00" in value:
        raise ValueError(f"{name}: must not contain NUL characters")
    return value


def _enabled(fields: dict[str, Any]) -> bool:
    value = fields.get("enabled")
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if value is None or value == "":
        raise ValueError("enabled is missing")
    word = str(value).strip().lower()
    if word in _YES:
        return True
    if word in _NO:
        return False
    shown = str(value)[:20]
    raise ValueError(f"enabled: must be yes/no, true/false or 1/0, not {shown!r}")


def _row(fields: dict[str, Any]) -> Listed:
    if "" in fields:
        raise ValueError(str(fields[""]))
    key = _text(fields, "client_key", required=False)
    secret = _text(fields, "client_secret", required=False)
    if key is not None and any(c.isspace() for c in key):
        raise ValueError("client_key: must not contain spaces")
    if secret is not None and any(c.isspace() for c in secret):
        raise ValueError("client_secret: must not contain spaces")  # never echo a secret
    if (key is None) != (secret is None):
        missing = "client_secret" if secret is None else "client_key"
        raise ValueError(f"{missing} is missing: give the client key and secret together")
    return Listed(
        application_id=_text(fields, "application.id", required=True) or "",
        application_name=_text(fields, "application.name", required=True) or "",
        site_id=_text(fields, "site.id", required=True) or "",
        site_name=_text(fields, "site.name", required=True) or "",
        enabled=_enabled(fields),
        site_urn=_text(fields, "site.urn", required=False),
        site_dfe_number=_text(fields, "site.dfe_number", required=False),
        client_key=key,
        client_secret=secret,
    )
