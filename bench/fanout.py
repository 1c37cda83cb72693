"""Fan-out: many websocket clients watch one live run through daphne + channels-redis.

python bench/fanout.py [--smoke] [--clients N] [--batches N] [--pause S] [--processes N ...] [--database-url URL]

Measured twice, side by side: one daphne on 127.0.0.1 serving every client, then two daphne processes
behind the same Redis with the clients dealt between them, as several web processes would serve a
page behind a load balancer; a batch recorded once must reach the clients of both.
Each daphne serves the site with REDIS_URL set. This process signs in N sessions (created
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
from contextlib import ExitStack

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


async def watch_all(clients, origins, path, seq, all_connected):
    """Every client on its server (round-robin over `origins`), a few connecting at a time."""
    connected = asyncio.Semaphore(0)
    start_gate = asyncio.Semaphore(25)  # open a few at a time, as people arriving would
    tasks = []
    for n, client in enumerate(clients):
        origin = origins[n % len(origins)]
        url = origin.replace("http://", "ws://") + path
        tasks.append(asyncio.create_task(client.watch(url, origin, seq, connected, start_gate)))

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
        while not all_connected.wait(5):
            sim.run.beat()  # opening 1,000 sockets takes a while
        time.sleep(1.0)  # let every first flush (nothing new yet) settle
        go.append(time.time())
        for _ in range(count):
            # A run's owner beats while it runs: without it the servers' sweep marks the run interrupted.
            sim.run.beat()
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


def fan_out(work, user, cookies, args, processes):
    """One simulated run watched by every client, the clients dealt round-robin over `processes` daphnes
    behind one Redis; what they received, checked, and the figures. Every server is stopped by its PID."""
    from simulate import SimulatedRun

    from registry.models import RunEvent

    sim = SimulatedRun("streaming-valid", seconds=args.batches, user=user).start().gate()
    seq = sim.run.__class__.objects.get(pk=sim.run.pk).last_seq
    clients = [Client(c) for c in cookies]
    commits, notified, go = {}, {}, []

    with ExitStack() as stack:
        servers = [
            stack.enter_context(Server(work, f"fanout-{processes}-{n}", REDIS_URL=DEFAULT_REDIS_URL))
            for n in range(processes)
        ]
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
            watching = asyncio.create_task(
                watch_all(clients, [s.url for s in servers], f"/ws/runs/{sim.run.id}/", seq, all_connected)
            )
            while not all_connected.is_set():
                await asyncio.sleep(0.01)
            opened.append(time.time() - opening)
            while not go:
                await asyncio.sleep(0.01)
            cpu_before, wall_before = sum(s.cpu_seconds() for s in servers), time.time()
            if args.profile:
                profile = Profile(servers[0].pid, args.profile)
            await watching

        client_cpu = resource.getrusage(resource.RUSAGE_SELF)
        asyncio.run(main_loop())
        cpu_after, wall_after = sum(s.cpu_seconds() for s in servers), time.time()
        if profile:
            profile.stop()
        client_cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        writer.join()
        pids = [s.pid for s in servers]

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
        raise SystemExit(
            f"{processes} process(es): not every client got every batch exactly once:\n" + "\n".join(problems[:20])
        )
    seconds = wall_after - wall_before
    spent = client_cpu_after.ru_utime + client_cpu_after.ru_stime - client_cpu.ru_utime - client_cpu.ru_stime
    messages = sum(len(c.messages) for c in clients)
    reconnects = Counter(code for c in clients for code in c.reconnects)
    return {
        "processes": processes,
        "pids": pids,
        "from_created": from_created,
        "from_commit": from_commit,
        "by_batch": by_batch,
        "sending": [(notified[b] - commits[b]) * 1000 for b in commits],
        "render": render_times(sim.run),
        "seconds": seconds,
        "server_cpu": (cpu_after - cpu_before) / seconds * 100,
        "client_cpu": spent / seconds * 100,
        "messages": messages,
        "size": sum(len(t) for c in clients for _, t in c.messages) / max(messages, 1),
        "closed": dict(Counter(c.close_code for c in clients)),
        "reconnects": reconnects,
        "opened": opened[0],
    }


def delay_rows(m):
    rows = []
    for label, values in [("created_at -> received", m["from_created"]), ("commit -> received", m["from_commit"])]:
        s = summary(values)
        rows.append([label, s["n"], f"{s['p50']:.0f}", f"{s['p95']:.0f}", f"{s['max']:.0f}"])
    first = statistics.median(min(v) for v in m["by_batch"].values())
    last = statistics.median(max(v) for v in m["by_batch"].values())
    rows.append(
        ["created_at -> first / last client of a batch (median over batches)", len(m["by_batch"]), f"{first:.0f}"]
        + [f"{last:.0f}", ""]
    )
    for label, values in [
        ("commit -> wake-up sent to Redis (Run.record_batch's notify returned)", m["sending"]),
        ("one read + render of a batch's update, as the server does it (this process, afterwards)", m["render"]),
    ]:
        s = summary(values)
        rows.append([label, s["n"], f"{s['p50']:.0f}", f"{s['p95']:.0f}", f"{s['max']:.0f}"])
    return rows


def main():
    p = parser(__doc__)
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--pause", type=float, default=1.0, help="seconds between batches (Spark's trigger: 1 s)")
    p.add_argument(
        "--processes",
        type=int,
        nargs="+",
        default=[1, 2],
        help="daphne processes behind the one Redis, one measurement each, side by side (default: 1 2)",
    )
    p.add_argument("--database-url", help="the registry in this scratch database (emptied first) instead of SQLite")
    p.add_argument(
        "--profile", metavar="PATH", help="sample the (first) server with py-spy during the batches (collapsed stacks)"
    )
    args = p.parse_args()
    if args.smoke:
        args.clients, args.batches, args.pause = 10, 3, 0.3
    if not redis_reachable():
        raise SystemExit(f"Redis is not reachable at {DEFAULT_REDIS_URL} (set DC43_BENCH_REDIS_URL)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Each client holds a socket here and one in a daphne; leave room for the database, Redis and files.
    needed = args.clients + 200
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    flush_redis_db()
    work = scratch_registry("dc43-bench-fanout-", redis_url=DEFAULT_REDIS_URL, database_url=args.database_url)
    user = make_operator()
    cookies = session_cookies(user, args.clients)
    measured = [fan_out(work, user, cookies, args, n) for n in args.processes]
    from django.db import connection

    print(
        f"fan-out: {args.clients} websocket clients, one simulated run of {args.batches} batches "
        f"{args.pause} s apart recorded by this process (Run.record_batch), daphne + channels-redis, "
        f"registry on {connection.vendor}; file descriptors: soft limit {soft} (hard {hard}), "
        f"{resource.getrlimit(resource.RLIMIT_NOFILE)[0]} for this run"
    )
    for m in measured:
        print(
            f"\n{m['processes']} daphne process(es) (pids {', '.join(map(str, m['pids']))}), clients dealt "
            f"round-robin: every client received every batch exactly once ({len(m['from_created'])} deliveries, "
            f"{m['messages']} messages, {m['size'] / 1024:.1f} KiB on average); all closed with {m['closed']}; "
            f"reconnected after an abnormal close: {sum(m['reconnects'].values())} times {dict(m['reconnects'])}; "
            f"the sockets opened (session, user, run checked) in {m['opened']:.1f} s"
        )
        print(table(["delivery delay (ms)", "deliveries", "p50", "p95", "max"], delay_rows(m)))
        print(
            f"server CPU over {m['seconds']:.1f} s: {m['server_cpu']:.0f}% of one core (all daphnes together); "
            f"this process (clients + writer): {m['client_cpu']:.0f}%"
        )
    print("\nside by side (ms, created_at -> received):")
    print(
        table(
            ["daphne processes", "clients", "p50", "p95", "max", "reconnects", "server CPU %"],
            [
                [m["processes"], args.clients]
                + [f"{summary(m['from_created'])[k]:.0f}" for k in ("p50", "p95", "max")]
                + [sum(m["reconnects"].values()), f"{m['server_cpu']:.0f}"]
                for m in measured
            ],
        )
    )
    results = Results("fanout")
    for m in measured:
        suffix = "" if m["processes"] == 1 else f"_{m['processes']}_processes"
        results.at_most(f"p95_ms{suffix}", summary(m["from_created"])["p95"], TARGET_MS)
        results.at_most(f"reconnects{suffix}", sum(m["reconnects"].values()), 0.0)
        results.at_least(f"server_cpu_pct{suffix}_info", m["server_cpu"], 0.0)
    results.at_least("clients_info", args.clients, 0.0)
    shutil.rmtree(work, ignore_errors=True)  # kept, with the server logs, when something failed
    results.print()


if __name__ == "__main__":
    main()
