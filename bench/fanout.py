"""Fan-out: many websocket clients watch one live run through daphne + channels-redis.

python bench/fanout.py [--smoke] [--clients N] [--batches N] [--pause S] [--database-url URL]

A daphne on 127.0.0.1 serves the site with REDIS_URL set. This process signs in N sessions (created
directly in the registry), opens N websockets (python `websockets`, asyncio, each with its session
cookie and an allowed Origin) on one run, then records the run's micro-batches itself through the
registry verbs (tests/simulate.py -> Run.record_batch, which wakes the run's group over the same
Redis after each commit), one every --pause seconds, as a run of another process does.

Each client stamps every message when it arrives. Checked: every client received every batch badge
exactly once. Delay per (client, batch) = receipt - the batch event's `created_at` (written just before
the commit, so slightly more than the true delay); the table also shows it from a stamp taken by an
on_commit hook in this process that runs right after the commit, before the wake-up goes out. Server
CPU is utime + stime of the daphne process (/proc/<pid>/stat) over the batches, as % of one core.
"""

import asyncio
import json
import random
import re
import resource
import shutil
import statistics
import threading
import time
from collections import Counter

from common import Results, parser, table
from livesite import (
    DEFAULT_REDIS_URL,
    Profile,
    Server,
    flush_redis_db,
    make_operator,
    redis_reachable,
    scratch_registry,
    session_cookies,
    summary,
)

TARGET_MS = 500.0
BADGE = re.compile(r'<li id="batch-main-(\d+)"')
SEQ = re.compile(r'id="live-seq" name="last_seq" value="(\d+)"')
RECONNECT = {1006, 1011, 1012, 1013}  # the codes after which the htmx ws extension reconnects


class Client:
    """One page's socket: resumes from the seq it holds after an abnormal close, as the htmx ws extension does."""

    def __init__(self, cookie):
        self.cookie = cookie
        self.messages = []  # (receipt time, text)
        self.close_code = None
        self.reconnects = []  # close codes it came back from

    async def watch(self, url, origin, seq, connected, start_gate):
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        while True:
            async with start_gate:
                ws = await connect(
                    url,
                    origin=origin,
                    additional_headers=[("Cookie", f"sessionid={self.cookie}")],
                    open_timeout=120,
                    ping_interval=None,
                    max_size=None,
                    compression=None,
                )
            async with ws:
                await ws.send(json.dumps({"last_seq": seq}))
                if not self.reconnects:
                    connected.release()
                try:
                    async for text in ws:
                        self.messages.append((time.time(), text))
                        seq = int(SEQ.search(text).group(1))
                except ConnectionClosed:
                    pass
            self.close_code = ws.close_code
            if self.close_code not in RECONNECT:
                return
            self.reconnects.append(self.close_code)
            await asyncio.sleep(random.uniform(0, 1))  # htmx's first retry: "full jitter" up to 1 s

    def badges(self):
        """{batch id: receipt times} of every badge this client was sent."""
        got = {}
        for at, text in self.messages:
            for batch_id in BADGE.findall(text):
                got.setdefault(int(batch_id), []).append(at)
        return got


async def watch_all(clients, url, origin, seq, all_connected):
    connected = asyncio.Semaphore(0)
    start_gate = asyncio.Semaphore(25)  # open a few at a time, as people arriving would
    tasks = [asyncio.create_task(c.watch(url, origin, seq, connected, start_gate)) for c in clients]

    async def announce():
        for _ in clients:
            await connected.acquire()
        all_connected.set()

    await asyncio.gather(announce(), *tasks)


def record_batches(sim, count, pause, commits, notified, go, all_connected):
    """The run's batches, one every `pause` s, each stamped right after its commit (before the wake-up is sent)
    and once the wake-up is sent (Run.record_batch's on_commit hook, notify, has returned)."""
    from django.db import connection, transaction

    try:
        all_connected.wait()
        time.sleep(1.0)  # let every first flush (nothing new yet) settle
        go.append(time.time())
        for _ in range(count):
            batch_id = sim.next_batch
            with transaction.atomic():
                # Registered before record_batch's own hooks, so it runs first after the commit.
                transaction.on_commit(lambda b=batch_id: commits.__setitem__(b, time.time()))
                sim.batch(0 if batch_id == 0 else 6)
            notified[batch_id] = time.time()
            time.sleep(pause)
        sim.finish()
    finally:
        connection.close()


def render_times(run):
    """ms to read and render the update a page holding the seq before each batch gets (live.updates_since)."""
    from registry.live import updates_since

    times = []
    for seq in run.events.filter(kind="batch").values_list("seq", flat=True):
        start = time.perf_counter()
        updates_since(run.id, seq - 1)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main():
    p = parser(__doc__)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--pause", type=float, default=1.0, help="seconds between batches (Spark's trigger: 1 s)")
    p.add_argument("--database-url", help="the registry in this scratch database (emptied first) instead of SQLite")
    p.add_argument(
        "--profile", metavar="PATH", help="sample the server with py-spy during the batches (collapsed stacks)"
    )
    args = p.parse_args()
    if args.smoke:
        args.clients, args.batches, args.pause = 10, 3, 0.3
    if not redis_reachable():
        raise SystemExit(f"Redis is not reachable at {DEFAULT_REDIS_URL} (set DC43_BENCH_REDIS_URL)")
    flush_redis_db()
    work = scratch_registry("dc43-bench-fanout-", redis_url=DEFAULT_REDIS_URL, database_url=args.database_url)
    from simulate import SimulatedRun

    from registry.models import RunEvent

    user = make_operator()
    cookies = session_cookies(user, args.clients)
    sim = SimulatedRun("streaming-valid", seconds=args.batches, user=user).start().gate()
    seq = sim.run.__class__.objects.get(pk=sim.run.pk).last_seq
    clients = [Client(c) for c in cookies]
    commits, notified, go = {}, {}, []

    with Server(work, "fanout", REDIS_URL=DEFAULT_REDIS_URL) as server:
        ws_url = server.url.replace("http://", "ws://") + f"/ws/runs/{sim.run.id}/"
        all_connected = threading.Event()
        writer = threading.Thread(
            target=record_batches,
            args=(sim, args.batches, args.pause, commits, notified, go, all_connected),
            daemon=True,
        )
        writer.start()
        cpu_before = wall_before = profile = None
        opened = []

        async def main_loop():
            nonlocal cpu_before, wall_before, profile
            opening = time.time()
            watching = asyncio.create_task(watch_all(clients, ws_url, server.url, seq, all_connected))
            while not all_connected.is_set():
                await asyncio.sleep(0.01)
            opened.append(time.time() - opening)
            while not go:
                await asyncio.sleep(0.01)
            cpu_before, wall_before = server.cpu_seconds(), time.time()
            if args.profile:
                profile = Profile(server.pid, args.profile)
            await watching

        client_cpu = resource.getrusage(resource.RUSAGE_SELF)
        asyncio.run(main_loop())
        cpu_after, wall_after = server.cpu_seconds(), time.time()
        if profile:
            profile.stop()
        client_cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        writer.join()

    created = {
        payload["batch_id"]: at.timestamp()
        for payload, at in RunEvent.objects.filter(run=sim.run, kind="batch").values_list("payload", "created_at")
    }
    expected = set(range(args.batches))
    problems = []
    from_created, from_commit, by_batch = [], [], {}
    for n, client in enumerate(clients):
        got = client.badges()
        counts = Counter({b: len(times) for b, times in got.items()})
        if set(got) != expected or any(c != 1 for c in counts.values()):
            problems.append(f"client {n}: badges {dict(sorted(counts.items()))}, closed {client.close_code}")
        for batch_id, times in got.items():
            from_created.append((times[0] - created[batch_id]) * 1000)
            from_commit.append((times[0] - commits[batch_id]) * 1000)
            by_batch.setdefault(batch_id, []).append(from_created[-1])
    if problems:
        raise SystemExit("not every client got every batch exactly once:\n" + "\n".join(problems[:20]))

    seconds = wall_after - wall_before
    cpu = (cpu_after - cpu_before) / seconds * 100
    spent = client_cpu_after.ru_utime + client_cpu_after.ru_stime - client_cpu.ru_utime - client_cpu.ru_stime
    messages = sum(len(c.messages) for c in clients)
    size = sum(len(t) for c in clients for _, t in c.messages) / max(messages, 1)
    from django.db import connection

    print(
        f"fan-out: {args.clients} websocket clients, one simulated run of {args.batches} batches "
        f"{args.pause} s apart recorded by this process (Run.record_batch), daphne + channels-redis, "
        f"registry on {connection.vendor}"
    )
    reconnects = Counter(code for c in clients for code in c.reconnects)
    print(
        f"every client received every batch exactly once ({len(from_created)} deliveries, {messages} messages, "
        f"{size / 1024:.1f} KiB on average); all closed with {dict(Counter(c.close_code for c in clients))}; "
        f"reconnected after an abnormal close: {sum(reconnects.values())} times {dict(reconnects)}; "
        f"the {args.clients} sockets opened (session, user, run checked) in {opened[0]:.1f} s"
    )
    rows = []
    for label, values in [("created_at -> received", from_created), ("commit -> received", from_commit)]:
        s = summary(values)
        rows.append([label, s["n"], f"{s['p50']:.0f}", f"{s['p95']:.0f}", f"{s['max']:.0f}"])
    first = statistics.median(min(v) for v in by_batch.values())
    last = statistics.median(max(v) for v in by_batch.values())
    rows.append(
        [
            "created_at -> first / last client of a batch (median over batches)",
            len(by_batch),
            f"{first:.0f}",
            f"{last:.0f}",
            "",
        ]
    )
    sending = summary([(notified[b] - commits[b]) * 1000 for b in commits])
    rows.append(
        [
            "commit -> wake-up sent to Redis (Run.record_batch's notify returned)",
            sending["n"],
            f"{sending['p50']:.0f}",
            f"{sending['p95']:.0f}",
            f"{sending['max']:.0f}",
        ]
    )
    render = summary(render_times(sim.run))
    rows.append(
        [
            "one read + render of a batch's update, as the server does it (this process, afterwards)",
            render["n"],
            f"{render['p50']:.0f}",
            f"{render['p95']:.0f}",
            f"{render['max']:.0f}",
        ]
    )
    print(table(["delivery delay (ms)", "deliveries", "p50", "p95", "max"], rows))
    print(
        f"server CPU over {seconds:.1f} s: {cpu:.0f}% of one core (pid {server.pid}); "
        f"this process (clients + writer): {spent / seconds * 100:.0f}%"
    )
    results = Results("fanout")
    results.at_most("p95_ms", summary(from_created)["p95"], TARGET_MS)
    results.at_least("server_cpu_pct_info", cpu, 0.0)
    results.at_least("reconnects_info", sum(reconnects.values()), 0.0)
    shutil.rmtree(work, ignore_errors=True)  # kept, with the server log, when something failed
    results.print()


if __name__ == "__main__":
    main()
