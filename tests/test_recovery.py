"""The recovery sweep puts files and registry back in agreement after a crash: folders nobody recorded go
to _orphans/ and are reported, an uncommitted swap is undone, and versions whose files are gone say so."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from contracts.models import ContractVersion
from pipelines import storage
from pipelines.recovery import reconcile
from registry.models import Dataset, DatasetVersion, Run, owner_fields
from tests.markup import elements

pytestmark = pytest.mark.django_db

NAME = "demo.streaming.events_processed"


@pytest.fixture(autouse=True)
def data_root(settings, tmp_path):
    settings.DC43_DATA_ROOT = str(tmp_path / "data")
    return tmp_path / "data"


def folder(path, rows="1"):
    Path(path).mkdir(parents=True)
    (Path(path) / "part-0.parquet").write_text(rows)
    return Path(path)


def recorded(run, batch_id=0):
    """A batch of `run` with one output slice on disk, as a committed publish leaves it."""
    version = run.slice_version(batch_id)
    contract_version = ContractVersion.objects.resolve(NAME, "0.1.0")
    dataset, _ = Dataset.objects.get_or_create(name=NAME, defaults={"contract": contract_version.contract})
    path = storage.slice_path(NAME, version)
    folder(path)
    now = timezone.now()
    run.record_batch(
        {"batch_id": batch_id, "status": "ok", "row_count": 1, "started_at": now, "finished_at": now},
        [
            {
                "dataset": dataset,
                "version": version,
                "status": "ok",
                "contract_version": contract_version,
                "row_count": 1,
                "path": path,
            }
        ],
    )
    return DatasetVersion.objects.get(version=version)


def finished_run():
    run = Run.objects.create(scenario="streaming-valid", requested_seconds=5, **owner_fields())
    return run


def orphans(data_root):
    return sorted(str(p.relative_to(data_root / "_orphans")).split("/", 1)[1] for p in data_root.glob("_orphans/*/*/*"))


def test_a_slice_and_a_staging_folder_without_a_record_move_to_orphans_and_are_reported(data_root):
    run = finished_run()
    kept = recorded(run)
    stray = folder(storage.slice_path(NAME, run.slice_version(1)))
    staged = folder(storage.staging_path(NAME, run.slice_version(2)))
    run.finish()

    report = reconcile()

    assert Path(kept.path).exists() and not stray.exists() and not staged.exists()
    assert orphans(data_root) == [f"{NAME}/{run.slice_version(1)}", f"{NAME}/_staging"]
    assert sorted(source for source, _ in report.orphaned) == sorted([str(stray), str(staged)])
    assert report.missing == [] and report.restored == []


def test_an_aside_copy_after_the_commit_is_stale_and_orphaned(data_root):
    run = finished_run()
    version = recorded(run)
    aside = folder(storage.aside_path(NAME, version.version, run.id.hex[:8]), rows="old")
    run.finish()

    report = reconcile([NAME])

    assert not aside.exists() and (Path(version.path) / "part-0.parquet").read_text() == "1"
    assert report.orphaned[0][0] == str(aside) and not report.restored


def test_an_aside_copy_without_the_commit_moves_back_and_the_uncommitted_slice_is_orphaned(data_root):
    first = finished_run()
    version = recorded(first)
    first.finish()
    # A later run replayed the batch: it moved the old slice aside and the new one in, then died before its commit.
    crashed = Run.objects.create(scenario="streaming-valid", requested_seconds=5, **owner_fields())
    crashed.interrupt("killed")
    aside = Path(storage.aside_path(NAME, version.version, crashed.id.hex[:8]))
    aside.parent.mkdir()
    Path(version.path).rename(aside)
    folder(version.path, rows="uncommitted")

    report = reconcile([NAME])

    assert (Path(version.path) / "part-0.parquet").read_text() == "1"
    assert report.restored == [(storage.aside_path(NAME, version.version, crashed.id.hex[:8]), version.path)]
    assert orphans(data_root) == [f"{NAME}/{version.version}.uncommitted"]
    assert not any((data_root / NAME / "_replaced").iterdir())


def test_a_version_whose_files_are_gone_is_flagged_missing_and_its_page_says_so(data_root, user_client):
    run = finished_run()
    gone, kept = recorded(run, 0), recorded(run, 1)
    run.finish()
    for part in Path(gone.path).iterdir():
        part.unlink()
    Path(gone.path).rmdir()

    report = reconcile()

    gone.refresh_from_db()
    kept.refresh_from_db()
    assert gone.files_missing_at is not None and kept.files_missing_at is None
    assert report.missing == [f"{NAME}@{gone.version}"]
    assert rows_marked_missing(user_client.get(f"/datasets/{NAME}/").content.decode()) == [f"v-{gone.version}"]


def rows_marked_missing(html):
    marked, row = [], None
    for element in elements(html):
        if element.tag == "tr":
            row = element.id
        elif "files-missing" in element.attrs.get("class", "").split() and element.text.strip() == "missing":
            marked.append(row)
    return marked


def test_folders_of_a_run_still_running_elsewhere_are_left_alone(data_root, live_pid):
    run = Run.objects.create(
        scenario="streaming-valid", requested_seconds=5, **{**owner_fields(), "owner_pid": live_pid}
    )
    staged = folder(storage.staging_path(NAME, run.slice_version(0)))
    Dataset.objects.create(name=NAME)

    assert not reconcile() and staged.exists()
    # The run's own sweep at its start is not in its way.
    assert reconcile(run=run).orphaned == [
        (str(staged), storage.join(str(data_root), "_orphans", *orphan_stamp(data_root), NAME, "_staging", staged.name))
    ]


def orphan_stamp(data_root):
    return [p.name for p in (data_root / "_orphans").iterdir()]


def test_sweep_runs_reconciles_the_files_too(data_root):
    run = finished_run()
    recorded(run)
    stray = folder(storage.slice_path(NAME, run.slice_version(7)))
    run.finish()
    out = StringIO()

    call_command("sweep_runs", stdout=out)

    assert f"orphaned {stray} -> " in out.getvalue() and not stray.exists()
    assert out.getvalue().strip().endswith("0 run(s) marked interrupted")


def test_a_finished_runs_own_checkpoint_is_removed_and_a_missing_one_is_fine(settings, tmp_path):
    settings.DC43_CHECKPOINT_ROOT = str(tmp_path / "checkpoints")
    run = finished_run()
    checkpoint = folder(storage.checkpoint_path(run.id))

    storage.remove_checkpoint(str(checkpoint))
    storage.remove_checkpoint(str(checkpoint))

    assert not checkpoint.exists()
