"""The live benchmarks' smoke modes run in the suite, so they cannot rot (their figures are not judged here).

Fan-out and live latency need Redis (DC43_BENCH_REDIS_URL, default redis://127.0.0.1:6379/7);
live latency and start drive Chromium, start runs Spark.
"""

import os

import pytest
import redis
from test_bench_smoke import run_smoke

REDIS_URL = os.environ.get("DC43_BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")


def redis_reachable():
    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


needs_redis = pytest.mark.skipif(not redis_reachable(), reason=f"no Redis at {REDIS_URL}")


@needs_redis
def test_fanout_benchmark_smoke():
    figures = run_smoke("fanout")
    assert set(figures) == {
        "p95_ms",
        "reconnects",
        "server_cpu_pct_info",
        "p95_ms_2_processes",
        "reconnects_2_processes",
        "server_cpu_pct_2_processes_info",
        "clients_info",
    }
    assert figures["p95_ms"] > 0 and figures["p95_ms_2_processes"] > 0
    assert figures["reconnects"] == figures["reconnects_2_processes"] == 0


@needs_redis
@pytest.mark.browser
def test_live_latency_benchmark_smoke():
    figures = run_smoke("live_latency")
    assert set(figures) == {"default_p95_ms", "redis_p95_ms"}
    assert all(value > 0 for value in figures.values())


@pytest.mark.browser
@pytest.mark.spark
def test_start_benchmark_smoke():
    figures = run_smoke("start")
    assert set(figures) == {"warm_s", "warm_first_s_info", "cold_s", "bare_spark_s"}
    assert all(value > 0 for value in figures.values())
