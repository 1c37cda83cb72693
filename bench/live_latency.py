"""Live latency: from a micro-batch's commit in the registry to its badge appearing in a real Chromium page.

python bench/live_latency.py [--smoke] [--seconds N] [--simulated]

For each configuration (default: SQLite + in-memory channel layer; Redis: REDIS_URL) a fresh daphne
serves the site with its SparkSession warmed; Chromium logs in and presses Run on streaming-valid.
A MutationObserver in the page stamps `performance.timeOrigin + performance.now()` when each badge
enters #batches. The server side of each batch is the `created_at` of its `batch` RunEvent, written
inside the batch's transaction just before the commit (so the figure slightly over-states the delay);
a reader in this process polling the registry every 20 ms also stamps when each batch first became
visible (after the commit: a slight under-statement). One machine, one clock.

--simulated (and --smoke) records the batches from this process instead (tests/simulate.py), as a
`manage.py run_scenario` run would: the default config's page then learns of them by polling.
"""

import re
import shutil
import threading
import time

from common import Results, parser, table
from livesite import (
    DEFAULT_REDIS_URL,
    Server,
    chromium,
    flush_redis_db,
    log_in,
    make_operator,
    redis_reachable,
    scratch_registry,
    summary,
)

TARGET_MS = 50.0  # issue 14: commit -> badge in Chromium, both channel layers
RUN_PAGE = r".*/runs/[0-9a-f-]{36}/$"
FINISHED = "#run-header .status-ok, #run-header .status-warn, #run-header .status-blocked, #run-header .status-failed"
CLOCK_CHECK = "[Date.now(), performance.timeOrigin + performance.now()]"


class VisibleStamps(threading.Thread):
    """Polls the registry for a run's batch events; stamps when each first became visible to a reader."""

    def __init__(self, run_id, every=0.02):
        super().__init__(daemon=True)
        self.run_id, self.every = run_id, every
        self.seen = {}
        self.stopping = threading.Event()

    def run(self):
        from django.db import connection

        from registry.models import RunEvent

        last = 0
        try:
            while not self.stopping.is_set():
                asked = time.time()
                for seq, payload in RunEvent.objects.filter(run_id=self.run_id, kind="batch", seq__gt=last).values_list(
                    "seq", "payload"
                ):
                    self.seen.setdefault(badge_id(payload), asked)
                    last = max(last, seq)
                self.stopping.wait(self.every)
        finally:
            connection.close()

    def stop(self):
        self.stopping.set()
        self.join()


def badge_id(payload):
    return f"batch-{payload.get('stream') or 'main'}-{payload['batch_id']}"


def committed_batches(run_id):
    """{badge id: created_at (epoch seconds)} of each batch's first event; in a thread (Playwright holds a loop)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from registry.models import RunEvent

    def read():
        try:
            out = {}
            for payload, created in (
                RunEvent.objects.filter(run_id=run_id, kind="batch")
                .order_by("seq")
                .values_list("payload", "created_at")
            ):
                out.setdefault(badge_id(payload), created.timestamp())
            return out
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(read).result()


def press_run(page, url, seconds):
    card = page.locator("#pipeline-streaming-valid")
    card.locator("summary").click()
    card.locator("input[name=seconds]").fill(str(seconds))
    card.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(RUN_PAGE), timeout=30_000)
    return page.url.rstrip("/").rsplit("/", 1)[1]


def watch_real_run(server, seconds):
    """Press Run in Chromium; returns the run id, the page's badge stamps and the clock check."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = chromium(playwright)
        try:
            page = log_in(browser, server.url, "bench")
            run_id = press_run(page, server.url, seconds)
            visible = VisibleStamps(run_id)
            visible.start()
            page.wait_for_selector(FINISHED, timeout=(seconds + 180) * 1000)
            page.wait_for_timeout(300)
            visible.stop()
            return (
                run_id,
                page.evaluate("window.__badges"),
                visible.seen,
                clock_check(page),
                page.evaluate("window.__closes"),
            )
        finally:
            browser.close()


def watch_simulated_run(server, batches, pause):
    """Open the page of a run this process records (tests/simulate.py), then play its batches."""
    from concurrent.futures import ThreadPoolExecutor

    from playwright.sync_api import sync_playwright
    from simulate import SimulatedRun, play_in_thread

    with ThreadPoolExecutor(1) as pool:
        sim = pool.submit(lambda: SimulatedRun("streaming-valid", seconds=batches).start()).result()
    run_id = str(sim.run.id)
    with sync_playwright() as playwright:
        browser = chromium(playwright)
        try:
            page = log_in(browser, server.url, "bench")
            page.goto(server.url + sim.run.get_absolute_url())
            page.wait_for_function("document.getElementById('live-state').textContent.startsWith('Connected')")
            visible = VisibleStamps(run_id)
            visible.start()
            thread = play_in_thread(sim, kind="valid", batches=batches, pause=pause, start=False)
            page.wait_for_selector(FINISHED, timeout=(batches * pause + 60) * 1000)
            thread.join()
            page.wait_for_timeout(300)
            visible.stop()
            return (
                run_id,
                page.evaluate("window.__badges"),
                visible.seen,
                clock_check(page),
                page.evaluate("window.__closes"),
            )
        finally:
            browser.close()


def clock_check(page):
    """ms by which the page's clock runs ahead of this process's (same machine: ~0)."""
    before = time.time() * 1000
    date_now, perf_now = page.evaluate(CLOCK_CHECK)
    after = time.time() * 1000
    return perf_now - (before + after) / 2


def measure(work, name, env, args):
    with Server(work, f"live-{name}", **env) as server:
        if args.simulated:
            run_id, badges, visible, skew, closes = watch_simulated_run(server, args.batches, args.pause)
        else:
            server.wait_for_log("SparkSession is warm")
            run_id, badges, visible, skew, closes = watch_real_run(server, args.seconds)
    created = committed_batches(run_id)
    missing = sorted(set(created) - set(badges))
    if missing:
        raise SystemExit(f"{name}: badges never appeared for {missing}")
    return {
        "created": [badges[b]["t"] - created[b] * 1000 for b in created],
        "painted": [badges[b]["painted"] - created[b] * 1000 for b in created if "painted" in badges[b]],
        "visible": [badges[b]["t"] - visible[b] * 1000 for b in created if b in visible],
        "skew": skew,
        "closes": closes,
    }


def main():
    p = parser(__doc__)
    p.add_argument("--seconds", type=int, default=30, help="the run's window (default 30 s: 25+ micro-batches)")
    p.add_argument("--simulated", action="store_true", help="record the batches from this process, without Spark")
    p.add_argument("--batches", type=int, default=20, help="batches of a simulated run")
    p.add_argument("--pause", type=float, default=0.5, help="seconds between a simulated run's batches")
    args = p.parse_args()
    if args.smoke:
        args.simulated, args.batches, args.pause = True, 4, 0.3
    if not redis_reachable():
        raise SystemExit(f"Redis is not reachable at {DEFAULT_REDIS_URL} (set DC43_BENCH_REDIS_URL)")
    flush_redis_db()
    # A simulated run is recorded here; over Redis its batches wake the page, the default config has to poll.
    work = scratch_registry("dc43-bench-live-", redis_url=DEFAULT_REDIS_URL if args.simulated else None)
    make_operator()
    spark = (
        {}
        if args.simulated
        else {"DC43_WARM_SPARK": "true", "DC43_DATA_ROOT": work / "data", "DC43_CHECKPOINT_ROOT": work / "checkpoints"}
    )
    configs = {"default": {"REDIS_URL": ""}, "redis": {"REDIS_URL": DEFAULT_REDIS_URL}}
    measured = {name: measure(work, name, {**spark, **env}, args) for name, env in configs.items()}

    source = (
        f"simulated run, {args.batches} batches {args.pause} s apart, recorded by this process"
        if args.simulated
        else f"streaming-valid, {args.seconds} s window, run by the server (warm Spark)"
    )
    print(f"live latency: micro-batch commit -> badge in Chromium ({source}); ms, p50 / p95 / max")
    rows = []
    for name, m in measured.items():
        for label, key in [
            ("created_at -> badge inserted", "created"),
            ("created_at -> next frame", "painted"),
            ("visible to a reader -> badge", "visible"),
        ]:
            if m[key]:
                s = summary(m[key])
                rows.append([name, label, s["n"], f"{s['p50']:.0f}", f"{s['p95']:.0f}", f"{s['max']:.0f}"])
    print(table(["config", "from -> to", "batches", "p50", "p95", "max"], rows))
    print(
        "page clock minus this process's clock (ms): "
        + ", ".join(f"{name} {m['skew']:+.1f}" for name, m in measured.items())
    )
    print(
        "closes of the page's socket (1000: run over; 1006/1011: htmx reconnected): "
        + ", ".join(f"{name} {m['closes']}" for name, m in measured.items())
    )
    results = Results("live_latency")
    for name, m in measured.items():
        results.at_most(f"{name}_p95_ms", summary(m["created"])["p95"], TARGET_MS)
    shutil.rmtree(work, ignore_errors=True)  # kept, with the server logs, when something failed
    results.print()


if __name__ == "__main__":
    main()
