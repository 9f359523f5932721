"""Text from elsewhere made safe to print on an operator's terminal.

Application and site names come from SIMS ID events and imports. An ESC in one starts a
terminal escape sequence (retitle the window, clear the screen, and on some terminals
worse); BEL rings; a bidirectional override makes a line read other than it is.
"""

from __future__ import annotations

import re

# C0 controls (tab and newline included: one record a line, tab-separated columns), DEL,
# C1 controls, and the bidirectional embeddings, overrides and isolates.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: object) -> str:
    """`text` with every control character shown as an escape (ESC as `\\x1b`)."""
    return _UNSAFE.sub(_visible, str(text))
