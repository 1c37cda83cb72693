"""Each benchmark's smoke mode runs in the suite, so the scripts cannot rot (their figures are not judged here)."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULT = re.compile(r"^RESULT (\w+) (\w+)=(-?[\d.]+) target=(-?[\d.]+) (met|missed)$")


def installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing, which find_spec reports by raising
        return False


def run_smoke(name, timeout=600):
    proc = subprocess.run(
        [sys.executable, f"bench/{name}.py", "--smoke"], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    results = [RESULT.match(line) for line in lines if line.startswith("RESULT ")]
    assert results and all(results), lines[-10:]
    # RESULT lines come last, all together
    assert all(line.startswith("RESULT ") for line in lines[-len(results) :])
    return {m.group(2): float(m.group(3)) for m in results}


@pytest.mark.spark
def test_engine_benchmark_smoke():
    figures = run_smoke("engine")
    assert set(figures) == {"checks_ratio", "checks_failing_ratio_info", "naive_ratio_info"}
    assert all(value > 0 for value in figures.values())


@pytest.mark.spark
def test_throughput_benchmark_smoke():
    figures = run_smoke("throughput")
    assert {"healthy_ratio", "rejects_ratio", "naive_ratio_info", "rejects_vs_split_ratio"} <= set(figures)
    if installed("databricks.labs.dqx"):  # the peer is in the `bench` extra, not the site's deps
        assert "rejects_vs_dqx_ratio" in figures


@pytest.mark.spark
def test_small_batches_benchmark_smoke():
    figures = run_smoke("small_batches")
    assert set(figures) == {
        "governed_vs_plain_ratio",
        "governed_vs_plain_p95_ratio_info",
        "rejects_vs_plain_ratio_info",
    }
    assert all(value > 0 for value in figures.values())
