"""The contract page's rule trends, drawn by the registry: contracts/ shows them without importing it."""

from django import template

from registry.trends import rule_trends as trends_of

register = template.Library()


@register.inclusion_tag("registry/partials/rule_trends.html")
def rule_trends(contract):
    return {"contract": contract, "trends": trends_of(contract)}
