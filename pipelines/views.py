from django.shortcuts import render
from django.views.decorators.http import require_GET

from pipelines.catalog import SCENARIOS
from registry.models import Run


@require_GET
def scenarios(request):
    Run.objects.mark_interrupted_orphans()
    cards = []
    for scenario in SCENARIOS.values():
        latest = Run.objects.filter(scenario=scenario.key).select_related("started_by").order_by("-started_at")[:5]
        cards.append({"scenario": scenario, "latest": latest})
    return render(request, "pipelines/scenarios.html", {"cards": cards})
