from django import template

from registry.models import RunStatus, Verdict

register = template.Library()


@register.filter
def as_run_status(status):
    """One spelling for the badge's icon: a verdict as the run status it makes (block -> blocked)."""
    return RunStatus.of_verdict(status) if status in Verdict.values else status
