"""Whether a frame is fresh from its source or a stale cached copy served because the source failed.

Readers return plain validated frames (`FlowFrame`, `MeteoFrame`); a frame
served from an expired cache entry carries its age in ``frame.attrs``, so the
reader ABCs keep their signatures and callers that do not care see nothing.
Read the mark right after the reader returns: pandas operations that combine
frames (``concat``, ``merge``) do not promise to keep ``attrs``.
"""

from __future__ import annotations

import pandas as pd

STALE_AGE_ATTR = "stale_age_s"


def mark_stale(frame: pd.DataFrame, age_s: float | None) -> pd.DataFrame:
    """Record that `frame` was served from a cached copy `age_s` seconds old (None: fresh).

    Returns:
        The same frame, for chaining.
    """
    if age_s is not None:
        frame.attrs[STALE_AGE_ATTR] = float(age_s)
    return frame


def stale_age(*frames: pd.DataFrame) -> float | None:
    """The age in seconds of the oldest stale data among `frames`, or None when all are fresh."""
    return oldest(*(frame.attrs.get(STALE_AGE_ATTR) for frame in frames))


def oldest(*ages: float | None) -> float | None:
    """The largest of several stale ages, ignoring None (fresh)."""
    known = [age for age in ages if age is not None]
    return max(known) if known else None
