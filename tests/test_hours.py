import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from stations import hours

SH = ZoneInfo("Asia/Shanghai")


def test_is_open_in_shanghai_time():
    expr = "Mo-Fr 08:00-18:00"
    assert hours.is_open(expr, datetime(2026, 11, 23, 9, 0, tzinfo=SH)) is True  # Monday
    assert hours.is_open(expr, datetime(2026, 11, 23, 19, 0, tzinfo=SH)) is False
    assert hours.is_open(expr, datetime(2026, 11, 22, 9, 0, tzinfo=SH)) is False  # Sunday
    # 02:00 UTC is 10:00 in Shanghai
    assert hours.is_open(expr, datetime(2026, 11, 23, 2, 0, tzinfo=ZoneInfo("UTC"))) is True


def test_unknown_and_always():
    assert hours.is_open(None) is None
    assert hours.is_open("24/7", datetime(2026, 1, 1, 3, 0, tzinfo=SH)) is True


def test_parse_error_is_a_clear_value_error():
    with pytest.raises(ValueError, match="OpenStreetMap syntax"):
        hours.parse("8 to 6")
    with pytest.raises(ValueError, match="empty"):
        hours.parse("  ")


@pytest.mark.parametrize(
    "expr",
    [
        "Mo-Fr 08:00-18:00; Sa 10:00-12:00",
        "Mo-Su 08:00-12:00,13:00-18:00",
        "Mo-Fr 08:00-18:00 unknown; Sa 09:00-10:00",
        "22:00-02:00",
        "24/7",
        "PH off; Mo-Su 07:30-19:30",
        "sunrise-sunset",
        "open; Mo off",
    ],
)
def test_the_kept_state_answers_as_the_parser_at_every_moment(expr):
    """Moments forward, backward and across changes: the same answer as asking the parser."""
    oh = hours.parse(expr)
    rng = random.Random(expr)
    start = datetime(2026, 11, 20, 0, 0, tzinfo=SH)
    moments = [start + timedelta(minutes=rng.randrange(0, 60 * 24 * 21)) for _ in range(400)]
    moments += [m + timedelta(minutes=d) for m in moments[:50] for d in (-1, 0, 1)]
    moments += sorted(moments[:100])  # as a clock reads them
    hours._STATES.clear()
    for moment in moments:
        expected = None if oh.is_unknown(moment) else bool(oh.is_open(moment))
        assert hours.is_open(expr, moment) is expected, moment
    # Going back and forth across a change of state (18:00 on a Friday) is never stale.
    friday = datetime(2026, 11, 27, 17, 59, 59, tzinfo=SH)
    for moment in [friday, friday + timedelta(seconds=1), friday, friday + timedelta(hours=1)]:
        expected = None if oh.is_unknown(moment) else bool(oh.is_open(moment))
        assert hours.is_open(expr, moment) is expected, moment


PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    "expr", ["Mo-Su 02:00-03:00 unknown", "Mo-Su 01:30-02:30", "Su 00:00-02:15", "24/7"]
)
def test_the_kept_state_is_never_stale_across_daylight_saving_changes(expr):
    """Paris changes its offset twice a year: every form of a moment gets the parser's answer."""
    oh = hours.parse(expr, "Europe/Paris")
    instants = []
    for change in (
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
    ):
        instants += [change + timedelta(minutes=m) for m in range(-200, 200, 7)]
    forms = []
    for instant in instants:
        local = instant.astimezone(PARIS)
        forms += [
            local,
            instant,  # in UTC, a datetime.timezone
            instant.astimezone(ZoneInfo("UTC")),
            local.replace(tzinfo=None),  # naive: the wall time, fold kept
        ]
    hours._STATES.clear()
    rng = random.Random(expr)
    for moment in forms + rng.sample(forms, len(forms)):
        local = (moment if moment.tzinfo else moment.replace(tzinfo=PARIS)).astimezone(PARIS)
        expected = None if oh.is_unknown(local) else bool(oh.is_open(local))
        assert hours.is_open(expr, moment, "Europe/Paris") is expected, moment


def test_hours_of_a_year_long_past_are_not_searched_to_the_end_of_time():
    """The parser's search for the next change of '2020 ...' runs to year 9999: not asked."""
    hours._STATES.clear()
    moment = datetime(2026, 11, 30, 12, 0, tzinfo=SH)
    assert hours.is_open("2020 Mo 10:00-12:00", moment) is False
    state, since, until = hours._STATES[("2020 Mo 10:00-12:00", hours.DEFAULT_TZ)]
    assert state is False and until - since == 86_400  # kept a day, then asked again


def test_next_opening_looks_a_week_ahead_and_no_further():
    tuesday = datetime(2026, 12, 1, 9, 0, tzinfo=SH)
    assert hours.next_opening("Mo 10:00-12:00", tuesday) == datetime(2026, 12, 7, 10, 0, tzinfo=SH)
    assert hours.next_opening("Mo-Fr 08:00-18:00", datetime(2026, 12, 1, 19, 0, tzinfo=SH)) == (
        datetime(2026, 12, 2, 8, 0, tzinfo=SH)
    )
    assert hours.next_opening("Jan 01 10:00-12:00", tuesday) is None  # a month away
    assert hours.next_opening("2020 Mo 10:00-12:00", tuesday) is None  # never again
    assert (
        hours.next_opening("Mo-Fr 08:00-18:00 unknown", datetime(2026, 12, 1, 7, 0, tzinfo=SH))
        is None
    )
