"""The alert figures a contract page shows, without contracts/ importing the registry: `{% alert_figures contract %}`."""

from datetime import timedelta
from statistics import median

from django import template
from django.db.models import Min, Q

from registry.alerts import Alert, Notification

register = template.Library()

# The newest alerts of a contract the figures are taken from.
FIGURES_FROM = 100
# ODCS `slaProperties` the measured figures are shown beside, when the contract declares them.
DECLARED = {"timeToNotify": "time to notify", "timeToRepair": "time to repair"}


@register.filter
def duration(delta):
    """A timedelta as people say it: 42 s, 3 min 5 s, 2 h 10 min, 1 d 4 h."""
    if not isinstance(delta, timedelta):  # no figure yet
        return "—"
    seconds = max(0, int(delta.total_seconds()))
    for unit, size, smaller, smaller_size in (("d", 86400, "h", 3600), ("h", 3600, "min", 60), ("min", 60, "s", 1)):
        if seconds >= size:
            rest = (seconds % size) // smaller_size
            return f"{seconds // size} {unit}" + (f" {rest} {smaller}" if rest else "")
    return f"{seconds} s"


def spread(deltas):
    deltas = [d for d in deltas if d is not None]
    if not deltas:
        return None
    return {"median": median(deltas), "worst": max(deltas), "count": len(deltas)}


def declared_sla(contract):
    version = contract.versions.order_by("-sort_key").only("document").first()
    declared = {}
    for item in (version.document.get("slaProperties") or []) if version else []:
        if isinstance(item, dict) and item.get("property") in DECLARED:
            declared[item["property"]] = f"{item.get('value', '')} {item.get('unit', '')}".strip()
    return declared


@register.inclusion_tag("registry/partials/alert_figures.html")
def alert_figures(contract):
    """Time to notify (opened -> first accepted delivery), to acknowledge and to repair (-> resolved)."""
    alerts = list(
        Alert.objects.filter(contract=contract)
        .annotate(
            first_delivered=Min("deliveries__delivered_at", filter=Q(deliveries__notification=Notification.OPENED))
        )
        .order_by("-opened_at")[:FIGURES_FROM]
    )
    notify = spread([a.first_delivered - a.opened_at if a.first_delivered else None for a in alerts])
    declared = declared_sla(contract)
    return {
        "alerts": len(alerts),
        "open": sum(1 for a in alerts if a.state != "resolved"),
        "rows": [
            ("time to notify", "timeToNotify", notify, declared.get("timeToNotify")),
            ("time to acknowledge", "", spread([a.time_to_acknowledge for a in alerts]), None),
            (
                "time to repair",
                "timeToRepair",
                spread([a.time_to_resolve for a in alerts]),
                declared.get("timeToRepair"),
            ),
        ],
    }
