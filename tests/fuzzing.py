"""Shared byte-mutation fuzzing for the decoders: one set of hypothesis settings, one mutation."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def fuzz_settings(max_examples: int) -> settings:
    """Settings for a fuzz test: no deadline or example database, big/slow inputs allowed."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def mutate(data: st.DataObject, seed: bytes) -> bytes:
    """`seed` with 1-8 bytes overwritten, then cut to a drawn length (at least one byte)."""
    blob = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 8), label="edits")):
        at = data.draw(st.integers(0, len(blob) - 1), label="at")
        blob[at] = data.draw(st.integers(0, 255), label="byte")
    cut = data.draw(st.integers(1, len(blob)), label="cut")
    return bytes(blob[:cut])
