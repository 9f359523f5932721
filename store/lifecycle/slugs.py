"""Application slugs: the short names that Slack commands use for applications."""

from __future__ import annotations

import itertools
import re

from sqlalchemy import select
from sqlmodel import Session, col

from store.models import Application


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:80] or "app"


def free_slug(session: Session, name: str, app_id: str) -> str:
    """A slug for the application `app_id` that no other application has."""
    base = slugify(name)
    # Names and ids in any script slugify alike ("app"): count on until one is free.
    candidates = itertools.chain(
        (base, f"{base}-{slugify(app_id)}"), (f"{base}-{n}" for n in itertools.count(2))
    )
    owner = select(col(Application.id))
    for slug in candidates:
        if session.scalar(owner.where(col(Application.slug) == slug)) in (None, app_id):
            return slug
    raise AssertionError("unreachable: the candidates never end")
