"""Fill RuleResult from the per-rule results that batches recorded before it existed, in their metrics JSON."""

from django.db import migrations

CHUNK = 2000


def fill(apps, schema_editor):
    from registry.models import rule_result_fields

    MicroBatch = apps.get_model("registry", "MicroBatch")
    RuleResult = apps.get_model("registry", "RuleResult")
    Dataset = apps.get_model("registry", "Dataset")
    DatasetVersion = apps.get_model("registry", "DatasetVersion")
    ContractVersion = apps.get_model("contracts", "ContractVersion")
    versions = {cv.pk: cv for cv in ContractVersion.objects.select_related("contract")}
    datasets = {d.name: d.pk for d in Dataset.objects.all()}
    done = set(RuleResult.objects.values_list("batch_id", flat=True).distinct())
    batches = MicroBatch.objects.select_related("run").order_by("pk")
    last = 0
    while True:
        chunk = list(batches.filter(pk__gt=last)[:CHUNK])
        if not chunk:
            break
        last = chunk[-1].pk
        # The dataset a batch published under its run's contract version; else the one named after that contract.
        outputs = {
            (v.micro_batch_id, v.contract_version_id): v.dataset_id
            for v in DatasetVersion.objects.filter(micro_batch__in=[b.pk for b in chunk]).only(
                "micro_batch_id", "contract_version_id", "dataset_id"
            )
        }
        rows = []
        for batch in chunk:
            if batch.pk in done:
                continue
            cv = versions.get(batch.run.contract_version_id)
            rules = [r for r in (batch.metrics or {}).get("rules") or [] if isinstance(r, dict)]
            dataset_id = None
            if cv is not None:
                dataset_id = outputs.get((batch.pk, cv.pk)) or datasets.get(cv.contract.contract_id)
            for fields in rule_result_fields(rules, cv.document if cv else None):
                rows.append(
                    RuleResult(
                        run_id=batch.run_id,
                        batch_id=batch.pk,
                        dataset_id=dataset_id,
                        contract_id=cv.contract_id if cv else None,
                        contract_version_id=cv.pk if cv else None,
                        recorded_at=batch.finished_at,
                        **fields,
                    )
                )
        RuleResult.objects.bulk_create(rows, batch_size=5000)


class Migration(migrations.Migration):
    dependencies = [("registry", "0013_rule_result"), ("contracts", "0004_identifiers")]
    # Going back drops the table (0010's reverse), so nothing needs undoing here.
    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
