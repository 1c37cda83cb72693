"""The audit querysets of docs/audit.md stay cheap per row on long histories."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from simulate import SimulatedRun, play

from registry.models import DatasetVersion

pytestmark = pytest.mark.django_db
OUTPUT = "demo.streaming.events_processed"


def sql_of(queryset):
    with CaptureQueriesContext(connection) as captured:
        rows = list(queryset)
    return rows, " ".join(q["sql"] for q in captured.captured_queries)


def test_published_versions_come_newest_first_without_their_contracts_whole_document():
    run = play(SimulatedRun("streaming-valid"), "valid", batches=4)
    rows, sql = sql_of(DatasetVersion.objects.published_under(OUTPUT))
    assert [v.version for v in rows] == [run.slice_version(b) for b in (3, 2, 1)]
    assert {(v.contract_version.contract.contract_id, v.contract_version.version) for v in rows} == {(OUTPUT, "0.1.0")}
    assert '"document"' not in sql and '"schema_gate"' not in sql


def test_versions_checked_against_a_contract_leave_the_bulky_json_unread():
    play(SimulatedRun("streaming-dq-rejects"), "rejects", batches=3)
    rows, sql = sql_of(DatasetVersion.objects.validated_against(OUTPUT, "0.1.0"))
    assert len(rows) == 2 and all(v.dataset.name == OUTPUT for v in rows)
    assert '"document"' not in sql and '"lint"' not in sql


def test_an_unknown_dataset_has_no_published_versions():
    play(SimulatedRun("streaming-valid"), "valid", batches=2)
    assert not DatasetVersion.objects.published_under("no.such.dataset").exists()
