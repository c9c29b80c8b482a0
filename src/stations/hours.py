"""Opening hours in OpenStreetMap ``opening_hours`` syntax, evaluated with opening-hours-py."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from opening_hours import OpeningHours

DEFAULT_TZ = "Asia/Shanghai"


@lru_cache(maxsize=4096)
def parse(expression: str, tz: str = DEFAULT_TZ) -> OpeningHours:
    """Parse an expression once (cached); raise `ValueError` with the parser's reason."""
    if not expression or not expression.strip():
        raise ValueError("opening_hours is empty; omit it (null) when the hours are unknown")
    try:
        return OpeningHours(
            expression,
            timezone=ZoneInfo(tz),
            country="CN",
            auto_country=False,
            auto_timezone=False,
        )
    except Exception as exc:  # the binding raises its own SyntaxError subclass
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"invalid opening_hours {expression!r} ({first}); use OpenStreetMap syntax, "
            "e.g. 'Mo-Su 08:00-18:00' or '24/7'"
        ) from None


def is_open(
    expression: str | None, when: datetime | None = None, tz: str = DEFAULT_TZ
) -> bool | None:
    """Whether a place with these hours is open at ``when`` (default now); None if unknown."""
    if expression is None:
        return None
    oh = parse(expression, tz)
    moment = when if when is not None else datetime.now(ZoneInfo(tz))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    if oh.is_unknown(moment):
        return None
    return bool(oh.is_open(moment))
