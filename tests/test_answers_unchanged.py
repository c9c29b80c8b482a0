"""The API answers the recorded sample byte for byte (see tests/answers/record.py).

After an intended change of answers, record them again: ``python tests/answers/record.py
--write``, and review the sample's diff before committing it.
"""

import json

import pytest

from answers import record


@pytest.fixture(scope="module")
def recorded() -> str:
    return record.dumps(record.record())


def test_answers_unchanged(recorded):
    assert record.SAMPLE.exists(), "no sample: run python tests/answers/record.py --write"
    expected = record.SAMPLE.read_text(encoding="utf-8")
    difference = record.first_difference(expected, recorded)
    if difference is not None:
        pytest.fail(
            "the API answers differently from tests/answers/sample.jsonl\n"
            f"{difference}\n"
            "(if the change is intended: python tests/answers/record.py --write)",
            pytrace=False,
        )


def test_the_framework_answers_as_the_hot_path(recorded):
    entries = [json.loads(line) for line in recorded.rstrip("\n").split("\n")[1:]]
    hot = {e["url"]: e for e in entries if e["app"] == "bundled" and "request_headers" not in e}
    framework = [e for e in entries if e["app"] == "framework"]
    assert framework
    for entry in framework:
        same = hot[entry["url"]]
        assert (entry["status"], entry["headers"], entry["body"]) == (
            same["status"],
            same["headers"],
            same["body"],
        ), entry["url"]


def test_the_hot_path_is_exercised():
    sample = [record.Req("/api/nearest?lon=107.26&lat=28.91"), record.Req("/healthz")]
    count = record.count_hot_path(sample)
    assert count is not None, "the recorder no longer finds the hot path to watch"
    assert count == 1
