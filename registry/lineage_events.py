"""A run's event log told as OpenLineage RunEvents, built with the official client's model.

One function makes the OpenLineage event of one `RunEvent` (`lineage_event`), from the rows it
describes; the sender (registry.lineage) emits it after the commit and `export_run --format
openlineage` makes the same events again later, so what was sent can always be re-read.
docs/lineage.md says what each event carries and how datasets are named.

Which registry event becomes which OpenLineage event:
- `started` -> START (for a queued run, `claimed`: when a worker takes it); `batch` (of the main stream) -> RUNNING, one per micro-batch;
- `complete` -> COMPLETE for `ok`/`warn` (the run did its job, with or without warnings),
  FAIL for `blocked`/`failed` (the contract or an error stopped it), ABORT for `interrupted`
  (its process died: the spec's "stopped abnormally").
"""

import os
from urllib.parse import urlparse

import attr
from django.conf import settings
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    data_quality_assertions_dataset,
    data_quality_metrics_dataset,
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    schema_dataset,
)
from openlineage.client.generated.base import RunFacet
from openlineage.client.naming import dataset as naming

from contracts.checks import PREDICATE_KINDS, compile_contract
from contracts.models import ContractVersion
from registry.models import EventKind, MicroBatch, RunStatus
from registry.models import Run as RegistryRun
from registry.pipelines import Pipeline
from registry.results import rule_results

# Names the software that sent an event (a URI, as the spec asks); the site has no public home page.
PRODUCER = "urn:dc43:site:0.1.0"
DC43_FACET_VERSION = "1-0-0"
DC43_FACET_PATH = f"openlineage/Dc43RunFacet-{DC43_FACET_VERSION}.json"

END_STATES = {
    RunStatus.OK: RunState.COMPLETE,
    RunStatus.WARN: RunState.COMPLETE,
    RunStatus.BLOCKED: RunState.FAIL,
    RunStatus.FAILED: RunState.FAIL,
    RunStatus.INTERRUPTED: RunState.ABORT,
}


@attr.define
class Dc43RunFacet(RunFacet):
    """Our run facet: which dc43 run and batch, checked against which contract version.

    Its JSON Schema is static/openlineage/Dc43RunFacet-1-0-0.json, which the site serves."""

    runId: str | None = None  # noqa: N815  (the facet's JSON names)
    pipeline: str | None = None
    runType: str | None = None  # noqa: N815
    contract: str | None = None
    contractFingerprint: str | None = None  # noqa: N815
    batchId: int | None = None  # noqa: N815
    batchStatus: str | None = None  # noqa: N815
    skippedRules: list[str] | None = None  # noqa: N815
    status: str | None = None
    reason: str | None = None

    @staticmethod
    def _get_schema():
        return f"{settings.DC43_SITE_URL}/static/{DC43_FACET_PATH}#/$defs/Dc43RunFacet"


def lineage_event(event):
    """The OpenLineage RunEvent of a registry `RunEvent`, or None for kinds lineage does not tell."""
    if event.kind == EventKind.BATCH and event.payload.get("stream", MicroBatch.Stream.MAIN) != MicroBatch.Stream.MAIN:
        return None
    if event.kind not in (EventKind.STARTED, EventKind.CLAIMED, EventKind.BATCH, EventKind.COMPLETE):
        return None
    if event.kind == EventKind.STARTED and event.payload.get("queued"):
        return None  # a queued run starts when a worker claims it
    run = RegistryRun.objects.select_related("contract_version__contract", "pipeline").get(pk=event.run_id)
    story = RunStory(run)
    if event.kind in (EventKind.STARTED, EventKind.CLAIMED):
        return story.event(RunState.START, event)
    if event.kind == EventKind.COMPLETE:
        return story.completed(event)
    batch = MicroBatch.objects.filter(pk=event.payload.get("micro_batch")).first()
    if batch is None:  # deleted since: nothing left to describe
        return None
    return story.batch(event, batch)


def run_lineage(run):
    """Every OpenLineage event of a finished (or running) run, in the order of its event log."""
    events = (lineage_event(e) for e in run.events.order_by("seq"))
    return [e for e in events if e is not None]


class RunStory:
    """What a run's events share: the job, its contracts and the datasets named from them."""

    def __init__(self, run):
        self.run = run
        self.output = run.contract_version
        self.input = self._pipeline_contract("input_contract")
        self.rejects = self._pipeline_contract("rejects_contract")
        if self.output is None:  # blocked before the output contract was resolved: the pipeline says which
            self.output = self._pipeline_contract("output_contract")

    def _pipeline_contract(self, field):
        # Runs recorded before pipelines were rows name theirs only by key.
        pipeline = self.run.pipeline or Pipeline.objects.filter(key=self.run.scenario).first()
        if pipeline is None or not getattr(pipeline, field):
            return None
        try:
            return pipeline.contract_version(field)
        except ContractVersion.DoesNotExist:
            return None

    def job(self):
        facet = job_type_job.JobTypeJobFacet(
            processingType="STREAMING", integration="DC43", jobType="PIPELINE", producer=PRODUCER
        )
        return Job(namespace=settings.DC43_OPENLINEAGE_NAMESPACE, name=self.run.scenario, facets={"jobType": facet})

    def event(self, state, event, inputs=None, outputs=None, run_facets=None, **dc43):
        facets = {
            "dc43": Dc43RunFacet(
                producer=PRODUCER,
                runId=str(self.run.id),
                pipeline=self.run.scenario,
                runType=self.run.run_type,
                contract=f"{self.output.contract.contract_id}@{self.output.version}" if self.output else None,
                contractFingerprint=self.output.fingerprint if self.output else None,
                **dc43,
            ),
            **(run_facets or {}),
        }
        return RunEvent(
            eventType=state,
            eventTime=event.created_at.isoformat(),
            run=Run(runId=str(self.run.id), facets=facets),
            job=self.job(),
            inputs=inputs if inputs is not None else self.inputs(),
            outputs=outputs if outputs is not None else self.outputs(),
            producer=PRODUCER,
        )

    def inputs(self, input_facets=None):
        if self.input is None:
            return []
        namespace, name = dataset_name(self.input.document)
        return [
            InputDataset(
                namespace=namespace,
                name=name,
                facets={"schema": schema_facet(self.input.document)},
                inputFacets=input_facets or {},
            )
        ]

    def outputs(self):
        return [self.output_dataset(version) for version in (self.output, self.rejects) if version is not None]

    def output_dataset(self, version, facets=None):
        namespace, name = dataset_name(version.document)
        return OutputDataset(
            namespace=namespace, name=name, facets={"schema": schema_facet(version.document), **(facets or {})}
        )

    def batch(self, event, batch):
        results = rule_results(batch)
        assertions = data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
            assertions=[self.assertion(r) for r in results if not r["skipped"]], producer=PRODUCER
        )
        outputs = []
        for version in batch.dataset_versions.select_related("contract_version", "dataset"):
            contract = version.contract_version
            if contract is None:
                continue
            rejects = self.rejects is not None and contract.pk == self.rejects.pk
            facets = {
                "dataQualityMetrics": slice_metrics(version, results, batch, rejects),
                "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                    datasetVersion=version.version, producer=PRODUCER
                ),
            }
            outputs.append(self.output_dataset(contract, facets))
        return self.event(
            RunState.RUNNING,
            event,
            inputs=self.inputs({"dataQualityAssertions": assertions}),
            outputs=outputs,
            batchId=batch.batch_id,
            batchStatus=batch.status,
            skippedRules=[r["rule"] for r in results if r["skipped"]],
        )

    def assertion(self, result):
        return data_quality_assertions_dataset.Assertion(
            assertion=result["kind"],
            success=bool(result["passed"]),
            column=result["column"],
            severity=result["severity"],
            name=result["rule"],
            description=result["note"] or None,
            expected=self.expected(result),
            actual=str(result["value"] if result["value"] is not None else result["failed"]),
        )

    def expected(self, result):
        """What the rule accepts, in ODCS words: `0` failing rows for a predicate, else operator and threshold."""
        rule = self.rules().get(result["rule"])
        if rule is None or rule.kind in PREDICATE_KINDS or not rule.operator:
            return "0"
        return f"{rule.operator} {rule.threshold}"

    def rules(self):
        if not hasattr(self, "_rules"):
            try:
                self._rules = {r.name: r for r in compile_contract(self.output.document).rules} if self.output else {}
            except ValueError:
                self._rules = {}
        return self._rules

    def completed(self, event):
        status = event.payload.get("status", self.run.status)
        state = END_STATES.get(status, RunState.OTHER)
        reason = event.payload.get("reason", "")
        facets = {}
        if state in (RunState.FAIL, RunState.ABORT) and reason:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=reason, programmingLanguage="python", producer=PRODUCER
            )
        return self.event(state, event, run_facets=facets, status=status, reason=reason or None)


def slice_metrics(version, results, batch, rejects):
    """rowCount of a written slice and the null counts its batch's `required` rules measured.

    The rules measure the batch before the split. A batch that routed rejects wrote every row
    breaking a row rule to the rejects slice: nulls of required columns are all there, none in the
    output slice. A batch that routed none wrote every row it measured (invariant 1)."""
    nulls = {}
    for result in results:
        if result["kind"] == "not_null" and result["column"] and not result["skipped"]:
            routed = batch.rejected_rows > 0
            nulls[result["column"]] = result["failed"] if rejects or not routed else 0
    return data_quality_metrics_dataset.DataQualityMetricsDatasetFacet(
        rowCount=version.row_count,
        columnMetrics={c: data_quality_metrics_dataset.ColumnMetrics(nullCount=n) for c, n in nulls.items()},
        producer=PRODUCER,
    )


def schema_facet(document):
    objects = document.get("schema") or []
    properties = objects[0].get("properties") or [] if objects else []
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(
                name=p["name"],
                type=p.get("physicalType") or p.get("logicalType"),
                description=p.get("description"),
                ordinal_position=i,
            )
            for i, p in enumerate(properties, start=1)
        ],
        producer=PRODUCER,
    )


def dataset_name(document):
    """(namespace, name) of a contract's dataset, from its first server the naming spec knows.

    Falls back to (DC43_OPENLINEAGE_NAMESPACE, contract id) when the contract names no server,
    or only servers OpenLineage has no naming for (a `custom` stream source, say)."""
    objects = document.get("schema") or []
    table = (objects[0].get("physicalName") or objects[0].get("name")) if objects else document.get("id")
    for server in document.get("servers") or []:
        named = server_naming(server, table)
        if named is not None:
            return named.get_namespace(), named.get_name()
    return settings.DC43_OPENLINEAGE_NAMESPACE, document.get("id", "")


def server_naming(server, table):
    kind = (server.get("type") or "").lower()
    where = server.get("location") or server.get("path") or ""
    try:
        if kind == "local" and where:
            return naming.LocalFileSystem(path=os.path.abspath(os.path.join(settings.BASE_DIR, where)))
        if kind == "kafka" and server.get("host"):
            host, _, port = server["host"].partition(":")
            return naming.Kafka(bootstrap_server_host=host, port=port or "9092", topic=server.get("topic") or table)
        if kind in ("postgres", "postgresql") and server.get("host"):
            return naming.Postgres(
                host=server["host"],
                port=str(server.get("port") or 5432),
                database=server.get("database") or "",
                schema=server.get("schema") or "public",
                table=table,
            )
        url = urlparse(where)
        if url.scheme in ("s3", "s3a") and url.netloc:
            return naming.S3(bucket_name=url.netloc, object_key=url.path.lstrip("/"))
        if url.scheme == "gs" and url.netloc:
            return naming.GCS(bucket_name=url.netloc, object_key=url.path.lstrip("/"))
        if url.scheme == "hdfs" and url.hostname:
            return naming.HDFS(namenode_host=url.hostname, namenode_port=str(url.port or 8020), path=url.path)
    except ValueError:  # a field the naming needs is empty
        return None
    return None
