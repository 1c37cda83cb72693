"""The alerts page, and its Acknowledge and Resolve buttons (POSTs that need registry.handle_alert)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from registry.alerts import Alert, AlertState
from registry.pages import KeysetPage

ALERTS_PER_PAGE = 50
NEEDS_PERMISSION = "Acknowledging and resolving alerts needs the 'Can acknowledge and resolve alerts' permission."


def can_handle_alerts(user):
    return user.is_authenticated and user.has_perm("registry.handle_alert")


@require_GET
def alert_list(request):
    state = request.GET.get("state", "")
    alerts = Alert.objects.select_related("run", "last_run", "acknowledged_by", "resolved_by").annotate(
        delivered=Count("deliveries", filter=Q(deliveries__delivered_at__isnull=False)),
        pending=Count(
            "deliveries", filter=Q(deliveries__delivered_at__isnull=True, deliveries__gave_up_at__isnull=True)
        ),
        given_up=Count("deliveries", filter=Q(deliveries__gave_up_at__isnull=False)),
    )
    if state == "unresolved":
        alerts = alerts.unresolved()
    elif state in AlertState.values:
        alerts = alerts.filter(state=state)
    page = KeysetPage(alerts, "opened_at", request.GET, ALERTS_PER_PAGE)
    return render(
        request,
        "registry/alert_list.html",
        {
            "page": page,
            "alerts": page.items,
            "state": state,
            "states": ["unresolved", *AlertState.values],
            "can_handle": can_handle_alerts(request.user),
        },
    )


@require_POST
def acknowledge(request, alert_id):
    if not can_handle_alerts(request.user):
        raise PermissionDenied(NEEDS_PERMISSION)
    alert = get_object_or_404(Alert, pk=alert_id)
    if alert.acknowledge(request.user):
        messages.success(request, f"Alert {alert.pk} ({alert.pipeline_key}) acknowledged: it is no longer re-notified.")
    else:
        messages.info(request, f"Alert {alert.pk} was already {alert.state}.")
    return redirect(back_to(request))


@require_POST
def resolve(request, alert_id):
    if not can_handle_alerts(request.user):
        raise PermissionDenied(NEEDS_PERMISSION)
    alert = get_object_or_404(Alert, pk=alert_id)
    if alert.resolve(request.user):
        messages.success(request, f"Alert {alert.pk} ({alert.pipeline_key}) resolved.")
    else:
        messages.info(request, f"Alert {alert.pk} was already resolved.")
    return redirect(back_to(request))


def back_to(request):
    """The alerts page the button was on, with its filter: built here, never taken from the request."""
    state = request.POST.get("state", "")
    url = reverse("alert-list")
    return f"{url}?state={state}" if state in ("unresolved", *AlertState.values) else url
