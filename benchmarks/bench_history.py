"""A station's history from a large audit log: the per-process index against reading the log.

Writes a synthetic ``audit.jsonl`` (N changes spread over 2,000 stations, each line holding the
station before and after, as the store writes them), then times, in one run:

- **scan**: what a naive reader does per request: read and parse every line, keep the station's;
- **first**: `AuditLog.history` in a fresh process state (builds the index: one scan);
- **next**: the same request again after one more change was appended (reads the new bytes and
  the 50 lines it returns).

Usage: ``python benchmarks/bench_history.py [--lines 200000]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import orjson

from stations.storage import audit
from stations.storage.audit import AuditLog


def feature(sid: str, n: int) -> dict:
    props = {
        "id": sid,
        "name": f"站点 {sid}",
        "kind": "union_station",
        "status": "open",
        "position_accuracy": "approximate",
        "source": "synthetic " + "x" * 300,
        "notes": f"change {n}",
    }
    return {"type": "Feature", "id": sid, "geometry": None, "properties": props}


def write_log(path: Path, lines: int, stations: int = 2000) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for n in range(lines):
            sid = f"s{n % stations}"
            entry = {"at": "2026-11-30T00:00:00.000+00:00", "actor": "bench", "action": "patch"}
            entry |= {"id": sid, "before": feature(sid, n - 1), "after": feature(sid, n)}
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")


def scan(path: Path, sid: str, limit: int) -> list[dict]:
    found = []
    with open(path, "rb") as log:
        for line in log:
            entry = orjson.loads(line)
            if entry.get("id") == sid:
                found.append(entry)
    return found[-limit:][::-1]


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=200_000)
    lines = parser.parse_args().lines
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.jsonl"
        write_log(path, lines)
        size = path.stat().st_size / 2**20
        log = AuditLog(path)
        sid = "s7"
        naive = timed(lambda: scan(path, sid, 50))

        def first() -> None:
            audit._INDEXES.clear()
            log.history(sid, 50)

        cold = timed(first)
        log.history(sid, 50)

        def following() -> None:
            log.append({"actor": "bench", "action": "patch", "id": sid, "before": None,
                        "after": feature(sid, -1)})  # fmt: skip
            log.history(sid, 50)

        warm = timed(following, repeat=5)
        assert [e["after"] for e in scan(path, sid, 50)] == [
            e["after"] for e in log.history(sid, 50)
        ]
    print(f"audit log: {lines:,} lines, {size:,.0f} MiB; a station's last 50 changes\n")
    print("| method | ms | vs scan |\n|---|---:|---:|")
    for name, seconds in (("scan (parse every line)", naive), ("index: first request", cold),
                          ("index: next request (after an append)", warm)):  # fmt: skip
        print(f"| {name} | {seconds * 1e3:,.1f} | {seconds / naive:.3f} |")


if __name__ == "__main__":
    main()
