"""bench/registry.py in its smoke mode: a tiny registry on a throwaway SQLite database, the same pages and output."""

import pytest
from test_bench_smoke import run_smoke

pytestmark = pytest.mark.process  # a benchmark process of its own, a minute or more

PAGES = {
    "runs_first",
    "runs_filtered",
    "runs_deep",
    "run_detail_10k",
    "run_detail_10k_older",
    "run_detail_10",
    "dataset_first",
    "dataset_deep",
    "rule_page",
    "contract_page",
    "audit_published",
    "audit_checked",
    "audit_quarantined",
    "audit_batch_by_batch",
    "audit_rule_history",
    "audit_reject_paths",
    "audit_not_ok",
    "audit_timeline",
    "audit_published_newest_100_info",
}


def test_registry_benchmark_smoke():
    figures = run_smoke("registry", timeout=300)
    assert set(figures) == {f"{page}_p95_ms" for page in PAGES} | {"queries_constant", "narrow_seq_scans"}
    assert all(figures[f"{page}_p95_ms"] > 0 for page in PAGES)
    assert figures["queries_constant"] == 1.0  # the run page costs the same queries for 10 or 600 batches
