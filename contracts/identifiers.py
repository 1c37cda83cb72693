"""Identifiers that end up in paths, headers and URLs: contract ids, versions, dataset names, pipeline keys.

Restricting them to one safe alphabet when they are saved is simpler than escaping them everywhere they
are used: a value such as `evil/../x` would otherwise break URL reversing and could climb out of a folder.
"""

import re

from django.core.exceptions import ValidationError

SAFE = re.compile(r"[A-Za-z0-9._-]+\Z")
RULE = "use only letters, digits, '.', '_' and '-', without '..'"


def identifier_problem(value):
    """Why `value` is not a safe identifier, or None when it is."""
    if not isinstance(value, str) or not value:
        return f"must be a non-empty string; {RULE}"
    if not SAFE.match(value):
        return f"{value!r} is not a safe identifier; {RULE}"
    if ".." in value or value in (".",):
        return f"{value!r} is not a safe identifier; {RULE}"
    return None


def validate_identifier(value):
    """A Django field validator (usable by registry and pipelines models too)."""
    problem = identifier_problem(value)
    if problem:
        raise ValidationError(problem, code="unsafe_identifier")
