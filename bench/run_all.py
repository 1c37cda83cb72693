"""Run every benchmark at full size and write docs/benchmarks.md (`make bench`).

python bench/run_all.py [--only NAME ...]
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time

from common import ROOT

BENCHMARKS = [
    ("throughput", "Governed throughput against a plain Spark parquet sink"),
    ("small_batches", "Tiny batches: governed 6-row micro-batches against a plain foreachBatch write"),
    ("live_latency", "Live latency: batch commit to badge in Chromium"),
    ("start", "Warm start: Run pressed to first non-empty badge"),
    ("registry", "Registry at scale: pages and audit queries on PostgreSQL"),
    ("fanout", "Fan-out: 1,000 websocket clients on one live run, through one daphne and through two"),
    ("engine", "Checks cost on a static write (issue 3)"),
]
TIMEOUT = 1800  # the registry benchmark generates its 2M batches once (about 10 minutes) before it measures


def machine():
    cores = os.cpu_count()
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return f"{platform.node()}: {cores} cores, {mem_kb / 1024 / 1024:.0f} GiB, Python {platform.python_version()}"


def load():
    """The 1-minute load average: on a shared machine, how busy it was when a figure was taken."""
    return os.getloadavg()[0]


def run(name):
    command = [sys.executable, f"bench/{name}.py"]
    started = time.monotonic()
    try:
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
        output, code = proc.stdout, proc.returncode
        if code:
            output += f"\n(exit {code})\n" + proc.stderr[-3000:]
    except subprocess.TimeoutExpired as exc:
        output, code = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or ""), "timeout"
    return output.rstrip(), code, time.monotonic() - started


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--only", nargs="*", help="run only these benchmarks (the document keeps the others' sections out)")
    p.add_argument(
        "--write", action="store_true", help="with --only, still write docs/benchmarks.md, naming what it left out"
    )
    args = p.parse_args()
    chosen = [(n, t) for n, t in BENCHMARKS if not args.only or n in args.only]
    sections, summary = [], []
    started = time.monotonic()
    for name, title in chosen:
        print(f"==> bench/{name}.py", flush=True)
        before = load()
        output, code, seconds = run(name)
        after = load()
        print(output, flush=True)
        results = [line for line in output.splitlines() if line.startswith("RESULT ")]
        summary.extend(results or [f"RESULT {name} failed ({code})"])
        sections.append(
            f"## {title}\n\n`python bench/{name}.py` ({seconds:.0f} s{'' if code == 0 else f', exit {code}'}; "
            f"load average {before:.1f} before, {after:.1f} after, on {os.cpu_count()} cores)\n\n"
            f"```\n{output}\n```\n"
        )
    total = time.monotonic() - started
    skipped = [n for n, _ in BENCHMARKS if n not in dict(chosen)]
    left_out = (
        f"**This run left out {', '.join(f'`{n}`' for n in skipped)}**: their last figures are on the pages "
        "linked below, not in this summary.\n\n"
        if skipped
        else ""
    )
    doc = (
        "# Benchmarks\n\n"
        f"Written by `{'make bench' if not skipped else 'python bench/run_all.py --only ' + ' '.join(dict(chosen))}` "
        f"on {datetime.date.today().isoformat()}, "
        f"{machine()}, in {total / 60:.1f} minutes. Each script measures our way and its reference side by "
        "side in one run and reports the ratio; absolute times are context only (these machines are noisy, "
        "and may be shared: each section gives the load average around its script). "
        "Every script has a `--smoke` mode that `make test` runs, so none of them rots.\n\n"
        + left_out
        + "## Summary\n\n```\n"
        + "\n".join(summary)
        + "\n```\n\n"
        "What the figures mean, what was tried, and what limits the missed ones: "
        "[throughput](benchmarks-throughput.md), [live latency, warm start and fan-out](benchmarks-live.md), "
        "[registry at scale](benchmarks-registry.md).\n\n" + "\n".join(sections)
    )
    if not args.only or args.write:
        (ROOT / "docs" / "benchmarks.md").write_text(doc)
        print(f"wrote docs/benchmarks.md in {total / 60:.1f} minutes")
    else:
        print(doc)


if __name__ == "__main__":
    main()
