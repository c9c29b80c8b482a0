"""Map rendering and loading: standalone map render time and size; /map load in headless Chromium.

Run:  .venv/bin/python benchmarks/bench_maps.py [--sizes 0 10000] [--national 186000] [--repeat 5]
(size 0 means the bundled data). Needs Debian's chromium at /usr/bin/chromium.

1. `stations map` as a function (build + render + inline assets), best and median of --repeat runs,
   and the file's size, for the bundled data and for N synthetic stations.
2. `stations serve` on --national synthetic stations; headless Chromium opens /map (phone-sized
   viewport, tiles answered locally) and we time navigation start -> the load event, and -> the
   first stations drawn (the viewport request answered and rendered), median of --repeat loads.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from bench_api import free_port, serve, stop, wait_ready, write_stations  # noqa: E402
from stations.catalog import Catalog  # noqa: E402
from stations.settings import Settings  # noqa: E402
from stations.web.maps import MapOptions, build_map  # noqa: E402
from stations.web.standalone import render_standalone  # noqa: E402

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082"
)


def render_times(n: int, repeat: int) -> tuple[list[float], int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None)
        if n:
            settings.stations_path = Path(tmp) / "stations.geojson"
            write_stations(n, settings.stations_path)
        catalog = Catalog.from_settings(settings)
        times, size = [], 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            page = render_standalone(build_map(catalog, MapOptions()))
            times.append(time.perf_counter() - t0)
            size = len(page.encode())
        return times, size, len(catalog.located)


def browser_load(n: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stations.geojson"
        write_stations(n, path)
        port = free_port()
        env = {"STATIONS_STATIONS_PATH": str(path), "STATIONS_TILES": "none", "PATH": "/usr/bin"}
        cmd = [sys.executable, "-m", "stations", "serve", "--port", str(port), "--no-access-log"]
        proc = serve(cmd, env)
        base = f"http://127.0.0.1:{port}"
        try:
            t0 = time.perf_counter()
            wait_ready(f"{base}/healthz", proc, 600)
            startup = time.perf_counter() - t0
            html_bytes = len(httpx.get(f"{base}/map").content)
            loads, readies = [], []
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                for _ in range(repeat):
                    ctx = browser.new_context(viewport={"width": 390, "height": 844})
                    page = ctx.new_page()
                    page.goto(f"{base}/map", wait_until="load")
                    page.wait_for_selector("[data-stations-ready]", state="attached")
                    timing = page.evaluate(
                        "() => { const n = performance.getEntriesByType('navigation')[0];"
                        " return [n.loadEventEnd, performance.now()]; }"
                    )
                    shown = page.evaluate("() => window.stationsMap.shown")
                    loads.append(timing[0] / 1000)
                    readies.append(timing[1] / 1000)
                    ctx.close()
                browser.close()
        finally:
            stop(proc)
    return {
        "startup_s": startup,
        "html_kb": html_bytes / 1024,
        "load_s": statistics.median(loads),
        "ready_s": statistics.median(readies),
        "shown": shown,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[0, 10_000])
    ap.add_argument("--national", type=int, default=186_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "maps.md")
    args = ap.parse_args()
    lines = [
        f"# Map benchmark ({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"Python {platform.python_version()})",
        "",
        "| standalone map | stations | render (best / median) | file size |",
        "|---|---|---|---|",
    ]
    for n in args.sizes:
        times, size, located = render_times(n, args.repeat)
        label = "bundled data" if n == 0 else f"{n:,} synthetic"
        lines.append(
            f"| {label} | {located:,} | {min(times):.2f} s / {statistics.median(times):.2f} s "
            f"| {size / 1024:,.0f} kB |"
        )
        print(lines[-1], flush=True)
    r = browser_load(args.national, args.repeat)
    lines += [
        "",
        f"| `/map` in headless Chromium, {args.national:,} stations | value |",
        "|---|---|",
        f"| server start-up (load + index) | {r['startup_s']:.1f} s |",
        f"| HTML of /map | {r['html_kb']:.0f} kB |",
        f"| navigation -> load event (median of {args.repeat}) | {r['load_s']:.2f} s |",
        f"| navigation -> stations drawn (viewport answered) | {r['ready_s']:.2f} s |",
        f"| stations represented at the first view | {r['shown']:,} |",
    ]
    print("\n".join(lines[-7:]))
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
