"""`simsid-bot ingest FILE`: install events from JSON lines or CSV, through the lifecycle."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bot.simsid.schema import BadEvent, parse_event
from store.db import Database
from store.lifecycle import EventResult, InstallEvent, Lifecycle

BATCH = 500
PROGRESS_EVERY = 5000

# CSV columns, with the webhook body's nesting written as dots.
CSV_FIELDS = (
    "id",
    "type",
    "occurred_at",
    "application.id",
    "application.name",
    "site.id",
    "site.name",
    "site.urn",
    "site.dfe_number",
)


@dataclass
class ImportReport:
    new: int = 0
    duplicate: int = 0
    stale: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.new} new, {self.duplicate} duplicate, {self.stale} older than stored, "
            f"{len(self.rejected)} rejected"
        )


def _nest(row: dict[str, Any]) -> dict[str, Any]:
    """A CSV row as the webhook's JSON shape; empty optional labels become absent."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None:
            continue
        value = value.strip()
        if value == "":
            continue
        head, _, tail = key.strip().partition(".")
        if tail:
            out.setdefault(head, {})[tail] = value
        else:
            out[head] = value
    return out


def read_lines(stream: TextIO, *, is_csv: bool) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, parsed row or the raw text) for each non-blank line."""
    if is_csv:
        reader = csv.DictReader(stream)
        for row in reader:
            yield reader.line_num, _nest(row)
        return
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, line


def check_utf8(path: Path, chunk: int = 1 << 20) -> None:
    """Raise UnicodeDecodeError (its `start` counted from the file's first byte) unless the
    whole file is UTF-8: checked before the import, which commits batch by batch."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    read = 0
    with path.open("rb") as stream:
        while True:
            data = stream.read(chunk)
            # The decoder's input starts with what it kept of the last chunk (a character
            # cut in two), so its positions start that many bytes before `read`.
            origin = read - len(decoder.getstate()[0])
            try:
                decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                exc.start += origin
                raise
            if not data:
                return
            read += len(data)


def ingest_file(
    db: Database,
    lifecycle: Lifecycle,
    path: Path,
    *,
    notify: bool = False,
    progress: TextIO | None = None,
) -> ImportReport:
    """Import every good line; a bad line is named by number and field, and skipped."""
    report = ImportReport()
    is_csv = path.suffix.lower() == ".csv"
    batch: list[InstallEvent] = []
    seen = 0
    show = progress if progress is not None and progress.isatty() else None
    with path.open(encoding="utf-8-sig", newline="" if is_csv else None) as stream:
        for number, raw in read_lines(stream, is_csv=is_csv):
            seen += 1
            try:
                batch.append(parse_event(raw if isinstance(raw, dict) else raw.encode()))
            except BadEvent as exc:
                report.rejected.append((number, str(exc)))
            if len(batch) >= BATCH:
                _apply(db, lifecycle, batch, report, notify=notify)
                batch = []
            if show is not None and seen % PROGRESS_EVERY == 0:
                show.write(f"\r{seen} lines read, {report.summary()}")
                show.flush()
    _apply(db, lifecycle, batch, report, notify=notify)
    if report.new:
        db.refresh_statistics()
    if show is not None:
        show.write("\r" + " " * 80 + "\r")
    return report


def _apply(
    db: Database,
    lifecycle: Lifecycle,
    batch: list[InstallEvent],
    report: ImportReport,
    *,
    notify: bool,
) -> None:
    if not batch:
        return
    # One transaction per batch; apply_events does the common case set-based.
    with db.session() as session:
        outcomes = lifecycle.apply_events(session, batch, notify=notify)
    for outcome in outcomes:
        if outcome is EventResult.ACCEPTED:
            report.new += 1
        elif outcome is EventResult.DUPLICATE:
            report.duplicate += 1
        else:
            report.stale += 1
