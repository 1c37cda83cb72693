from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from contracts.checks import RunType
from pipelines.catalog import SCENARIOS
from pipelines.runner import start_run
from registry.access import can_start_runs
from registry.models import Run

LATEST_RUNS = 5


@require_GET
def scenarios(request):
    cards = []
    for scenario in SCENARIOS.values():
        latest = Run.objects.filter(scenario=scenario.key).select_related("started_by")[:LATEST_RUNS]
        cards.append({"scenario": scenario, "latest": latest})
    return render(
        request,
        "pipelines/scenarios.html",
        {"cards": cards, "can_start": can_start_runs(request.user), "run_types": RunType.values},
    )


@require_POST
def start(request, key):
    if key not in SCENARIOS:
        raise Http404("No such scenario.")
    if not can_start_runs(request.user):
        raise PermissionDenied("Starting runs needs the 'Can start pipeline runs' permission.")
    try:
        run = start_run(
            key,
            seconds=whole_number(request.POST.get("seconds")),
            run_type=request.POST.get("run_type") or None,
            user=request.user,
            via="user",
        )
    except ValueError as exc:
        messages.error(request, f"The run did not start: {exc}")
        return redirect("scenarios")
    return redirect(run)


def whole_number(text):
    """The form's seconds as an int; anything else goes through for start_run to refuse with its reason."""
    try:
        return int(text) if text else None
    except ValueError:
        return text
