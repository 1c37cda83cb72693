from django.core.paginator import Paginator
from django.db.models import Count, Max
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from registry.models import Dataset, Run, RunStatus

RUNS_PER_PAGE = 25


@require_GET
def run_list(request):
    Run.objects.mark_interrupted_orphans()
    runs = Run.objects.select_related("started_by").order_by("-started_at")
    scenario = request.GET.get("scenario", "")
    status = request.GET.get("status", "")
    if scenario:
        runs = runs.filter(scenario=scenario)
    if status:
        runs = runs.filter(status=status)
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    filters = "&".join(f"{k}={v}" for k, v in (("scenario", scenario), ("status", status)) if v)
    return render(
        request,
        "registry/run_list.html",
        {
            "page_obj": page,
            "runs": page.object_list,
            "scenario": scenario,
            "status": status,
            "statuses": RunStatus.values,
            "scenarios": sorted(set(Run.objects.values_list("scenario", flat=True).distinct())),
            "querystring_prefix": f"{filters}&" if filters else "",
        },
    )


@require_GET
def run_detail(request, run_id):
    run = get_object_or_404(Run.objects.select_related("started_by", "contract_version__contract"), id=run_id)
    batches = run.batches.order_by("stream", "batch_id")
    versions = run.dataset_versions.select_related("dataset").order_by("dataset__name", "version")
    return render(request, "registry/run_detail.html", {"run": run, "batches": batches, "versions": versions})


@require_GET
def dataset_list(request):
    datasets = Dataset.objects.select_related("contract").annotate(
        version_count=Count("versions"), last_published=Max("versions__created_at")
    )
    return render(request, "registry/dataset_list.html", {"datasets": datasets})


@require_GET
def dataset_detail(request, name):
    dataset = get_object_or_404(Dataset.objects.select_related("contract"), name=name)
    versions = dataset.versions.select_related("contract_version__contract", "run").order_by("-created_at", "-version")
    page = Paginator(versions, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "registry/dataset_detail.html",
        {"dataset": dataset, "page_obj": page, "versions": page.object_list, "querystring_prefix": ""},
    )
