"""Download links that stay the same within a time window, so browsers reuse what they cached.

Both blob stores sign a link as of the start of the window the current time falls in, valid
for the link's lifetime from there. Every call within one window therefore returns the very
same URL (a browser cache hit), and a link handed out is valid between `lifetime - window`
and `lifetime` seconds: never longer than its stated lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_WINDOW_S = 450


@dataclass(frozen=True)
class LinkWindow:
    """When the links of one window are signed and expire, and how long a cache may keep them."""

    signed_at: int
    expires_at: int
    max_age: int


def link_window(now: float, lifetime_s: int, window_s: int = DEFAULT_WINDOW_S) -> LinkWindow:
    """The window `now` falls in; `window_s` counts as at most half of `lifetime_s`.

    The cap keeps every link valid for at least half its lifetime after it is handed out.
    `max_age` is that least remaining validity, so a copy cached within the window never
    outlives its link.
    """
    window = max(1, min(window_s, lifetime_s // 2))
    start = int(now) // window * window
    return LinkWindow(start, start + lifetime_s, max(0, lifetime_s - window))
