from datetime import datetime
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
