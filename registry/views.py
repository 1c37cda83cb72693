from django.db import connection
from django.db.models import Count, OuterRef, Subquery, Sum
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from contracts.models import ContractVersion
from contracts.semver import NotSemver, bump_between, bump_rank
from registry.models import BULKY_RELATED_FIELDS, Dataset, DatasetVersion, MicroBatch, Run, RunStatus
from registry.pages import KeysetPage
from registry.pipelines import pipelines_picking_up
from registry.presenters import RunPage
from registry.reports import EXPORTS, export

RUNS_PER_PAGE = 25
VERSIONS_PER_PAGE = 50


@require_GET
def run_list(request):
    scenario = request.GET.get("scenario", "")
    status = request.GET.get("status", "")
    runs = Run.objects.select_related("started_by")
    if scenario:
        runs = runs.filter(scenario=scenario)
    if status:
        runs = runs.filter(status=status)
    page = KeysetPage(runs, "started_at", request.GET, RUNS_PER_PAGE)
    attach_batch_totals(page.items)
    return render(
        request,
        "registry/run_list.html",
        {
            "page": page,
            "runs": page.items,
            "scenario": scenario,
            "status": status,
            "statuses": RunStatus.values,
            "scenarios": known_scenarios(scenario),
        },
    )


def attach_batch_totals(runs):
    """Batches, rows and quarantined rows of a page of runs, in one grouped query."""
    rows = (
        MicroBatch.objects.filter(run__in=[run.id for run in runs])
        .order_by()
        .values("run_id")
        .annotate(batches=Count("id"), rows=Sum("row_count"), rejected=Sum("rejected_rows"))
    )
    totals = {row["run_id"]: row for row in rows}
    for run in runs:
        run.totals_row = totals.get(run.id, {})


# SELECT DISTINCT reads every run; hopping from one scenario to the next through the
# (scenario, started_at) index reads one index entry per scenario (a "loose index scan").
SCENARIOS_SQL = """
WITH RECURSIVE scenarios(name) AS (
    SELECT MIN(scenario) FROM {table}
    UNION ALL
    SELECT (SELECT MIN(scenario) FROM {table} WHERE scenario > name) FROM scenarios WHERE name IS NOT NULL
)
SELECT name FROM scenarios WHERE name IS NOT NULL
"""


def known_scenarios(selected):
    with connection.cursor() as cursor:
        cursor.execute(SCENARIOS_SQL.format(table=connection.ops.quote_name(Run._meta.db_table)))
        keys = {row[0] for row in cursor.fetchall()}
    return sorted(keys | ({selected} if selected else set()))


@require_GET
def run_detail(request, run_id):
    before = positive_int(request.GET.get("batches_before"))  # paging back through a long run's batches
    page = RunPage.load(run_id, before)
    if page is None:
        raise Http404("No run with this id.")
    return render(request, "registry/run_detail.html", {"run": page.run, "page": page})


@require_GET
def run_export(request, run_id):
    """The run as a file: ?format=junit, json or openlineage."""
    format = request.GET.get("format", "json")
    if format not in EXPORTS:
        return HttpResponseBadRequest(f"format must be one of: {', '.join(sorted(EXPORTS))}")
    run = get_object_or_404(Run.objects.select_related("contract_version__contract", "started_by"), pk=run_id)
    text, content_type, filename = export(run, format)
    response = HttpResponse(text, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def positive_int(text):
    """A whole number above 0 as a link writes it; anything else ('²', '1.5', 5,000 digits) reads as absent."""
    # isdigit() alone also accepts '²' and other digits int() refuses; 18 digits stay inside a bigint.
    if not text or not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text) or None


@require_GET
def dataset_list(request):
    # The newest version of each dataset through its (dataset, created_at) index, never a scan of all versions.
    newest = DatasetVersion.objects.filter(dataset=OuterRef("pk")).order_by("-created_at", "-pk")
    datasets = Dataset.objects.select_related("contract").annotate(
        last_published=Subquery(newest.values("created_at")[:1]),
        last_version=Subquery(newest.values("version")[:1]),
        last_status=Subquery(newest.values("status")[:1]),
    )
    return render(request, "registry/dataset_list.html", {"datasets": datasets})


@require_GET
def dataset_detail(request, name):
    dataset = get_object_or_404(Dataset.objects.select_related("contract"), name=name)
    versions = dataset.versions.select_related("contract_version__contract", "run", "micro_batch").defer(
        *BULKY_RELATED_FIELDS, "micro_batch__metrics", "micro_batch__progress"
    )
    page = KeysetPage(versions, "created_at", request.GET, VERSIONS_PER_PAGE)
    return render(
        request,
        "registry/dataset_detail.html",
        {"dataset": dataset, "page": page, "versions": page.items},
    )


@require_GET
def contract_diff(request, contract_id, from_version, to_version):
    """What changed between two versions of a contract, how big a bump it needs, and which pipelines move.

    It lives in the registry because it lists pipelines; contracts/ knows no registry."""
    versions = ContractVersion.objects.select_related("contract").filter(contract__contract_id=contract_id)
    old = get_object_or_404(versions, version=from_version)
    new = get_object_or_404(versions, version=to_version)
    diff = new.diff_from(old)
    try:
        made = bump_between(old.version, new.version)
    except NotSemver:
        made = None
    return render(
        request,
        "registry/contract_diff.html",
        {
            "contract": old.contract,
            "old": old,
            "new": new,
            "diff": diff,
            "made": made,
            "enough": made is not None and bump_rank(made) >= bump_rank(diff.required_bump),
            "pipelines": pipelines_picking_up(contract_id, new),
            "choices": versions.order_by("-sort_key").values_list("version", flat=True),
        },
    )
