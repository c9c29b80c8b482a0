"""Opening hours in OpenStreetMap ``opening_hours`` syntax, evaluated with opening-hours-py."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from opening_hours import OpeningHours, State

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


#: Each expression's state (per zone) as last evaluated: (open?, from, until) as POSIX
#: timestamps. Riders' answers ask about the same few expressions at nearly the same moment
#: again and again, and one evaluation costs ~5 µs (a quarter of a nearest answer's time in
#: Python), so the state is kept until the end of its interval as the parser gives it
#: (`OpeningHours.intervals`, searched at most `_HOLD` ahead: an unbounded search for the next
#: change can take the parser a third of a second, e.g. for hours of a year long past). A
#: moment outside ``[from, until)`` asks the parser again. Nothing is kept across a change of
#: the zone's UTC offset (daylight saving time): the parser's intervals are not exact there.
_STATES: dict[tuple[str, str], tuple[bool | None, float, float]] = {}
_STATES_LIMIT = 4096
_HOLD = timedelta(days=1)
_STATE_VALUES = {State.OPEN: True, State.CLOSED: False, State.UNKNOWN: None}


def is_open(
    expression: str | None, when: datetime | None = None, tz: str = DEFAULT_TZ
) -> bool | None:
    """Whether a place with these hours is open at ``when`` (default now); None if unknown."""
    if expression is None:
        return None
    moment = when if when is not None else datetime.now(ZoneInfo(tz))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    at = moment.timestamp()  # exact for an ambiguous wall time too (``fold``)
    key = (expression, tz)
    known = _STATES.get(key)
    if known is not None and known[1] <= at < known[2]:
        return known[0]  # the answers' path: one look-up, no parser, no zone
    oh = parse(expression, tz)
    local = moment.astimezone(ZoneInfo(tz))
    state = None if oh.is_unknown(local) else bool(oh.is_open(local))
    _keep(key, oh, local, state)
    return state


def _keep(key: tuple[str, str], oh: OpeningHours, local: datetime, state: bool | None) -> None:
    """Remember ``state`` from ``local`` to the end of its interval (see `_STATES`)."""
    zone = local.tzinfo
    assert zone is not None
    limit = local + _HOLD
    interval = next(iter(oh.intervals(local, limit)), None)
    if interval is None or _STATE_VALUES.get(interval[2], "?") != state:
        return
    until = interval[1] or limit
    if until.astimezone(zone).utcoffset() != local.utcoffset():
        return  # the offset changes before the interval ends
    if len(_STATES) >= _STATES_LIMIT:
        _STATES.clear()
    _STATES[key] = (state, local.timestamp(), until.timestamp())


#: How far ahead `next_opening` looks (a week of hours, and a day's margin).
OPENING_HORIZON = timedelta(days=8)


def next_opening(expression: str, moment: datetime, tz: str = DEFAULT_TZ) -> datetime | None:
    """When hours closed (or unknown) at ``moment`` next change to open, within `OPENING_HORIZON`.

    None if the next change is not to open, or none comes within the horizon: an unbounded
    search can take the parser a third of a second (hours of a year long past).
    """
    oh = parse(expression, tz)
    local = moment.astimezone(ZoneInfo(tz))
    intervals = iter(oh.intervals(local, local + OPENING_HORIZON))
    next(intervals, None)  # the present one
    following = next(intervals, None)
    if following is None or following[2] != State.OPEN:
        return None
    return following[0]


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
