"""Opening hours in OpenStreetMap ``opening_hours`` syntax, evaluated with opening-hours-py."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
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


#: Each expression's state (per zone) as last evaluated: (open?, from, until). Riders' answers
#: ask about the same few expressions at nearly the same moment again and again, and one
#: evaluation costs ~5 µs (a quarter of a nearest answer's time in Python), so the state is
#: kept until the parser's next change of state (`OpeningHours.next_change`), which is exact:
#: the state cannot differ anywhere in ``[from, until)``. A moment outside it evaluates again.
_STATES: dict[tuple[str, str], tuple[bool | None, datetime, datetime | None]] = {}
_STATES_LIMIT = 4096


def is_open(
    expression: str | None, when: datetime | None = None, tz: str = DEFAULT_TZ
) -> bool | None:
    """Whether a place with these hours is open at ``when`` (default now); None if unknown."""
    if expression is None:
        return None
    moment = when if when is not None else datetime.now(ZoneInfo(tz))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    key = (expression, tz)
    known = _STATES.get(key)
    if known is not None:
        state, since, until = known
        if since <= moment and (until is None or moment < until):
            return state
    oh = parse(expression, tz)
    state = None if oh.is_unknown(moment) else bool(oh.is_open(moment))
    if len(_STATES) >= _STATES_LIMIT:
        _STATES.clear()
    _STATES[key] = (state, moment, oh.next_change(moment))
    return state


#: Most intervals a preview lists per day (an expression switching every minute stays small).
MAX_PREVIEW_INTERVALS = 48


def week(expression: str, start: date, tz: str = DEFAULT_TZ) -> list[dict[str, Any]]:
    """Open, closed or unknown through the 7 days from ``start``, for a preview of the hours.

    One item per day: ``{"date", "weekday" (0 = Monday), "intervals": [{"from", "to",
    "state", "comment"}]}``, times ``HH:MM`` local (``to`` of the last is ``24:00``). Raises
    `ValueError` naming the syntax error (`parse`).
    """
    oh = parse(expression, tz)
    zone = ZoneInfo(tz)
    days = []
    for n in range(7):
        day = start + timedelta(days=n)
        begin = datetime.combine(day, time(0), zone)
        end = datetime.combine(day + timedelta(days=1), time(0), zone)
        intervals: list[dict[str, Any]] = []
        for lo, hi, state, comment in oh.intervals(begin, end):
            if len(intervals) == MAX_PREVIEW_INTERVALS:
                break
            intervals.append(
                {
                    "from": lo.astimezone(zone).strftime("%H:%M"),
                    "to": "24:00"
                    if hi is None or hi >= end
                    else hi.astimezone(zone).strftime("%H:%M"),
                    "state": str(state).rsplit(".", 1)[-1].lower(),
                    "comment": comment or None,
                }
            )
        days.append({"date": day.isoformat(), "weekday": day.weekday(), "intervals": intervals})
    return days
