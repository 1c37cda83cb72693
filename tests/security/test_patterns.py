"""Patterns are matched by Java's regex engine in Spark: Python-only syntax is refused when a contract is saved."""

import textwrap

import pytest

from contracts import odcs

PYTHON_ONLY = {
    r"(?P<digits>\d+)": "(?P<",
    r"(?P<d>\d)(?P=d)": "(?P<",
    r"(a)?(?(1)b|c)": "(?(",
    r"(?a)\w+": "(?a",
    r"(?L)\w+": "",  # Python 3.11 itself refuses the locale flag on str patterns
}
INVALID_EVERYWHERE = [r"(unclosed", r"[z-a]", r"*x"]
JAVA_AND_PYTHON = [r"^\d{3}-\d{4}$", r"(\d{4})-\1", r"(?i)abc", r"(?:a|b)+", r"a(?=b)", r"(?<!x)y", r"\(\?P<x\)"]


def document(pattern, style="options"):
    quoted = pattern.replace("\\", "\\\\")
    where = {
        "options": f'logicalTypeOptions:\n          pattern: "{quoted}"',
        "regex": f'quality:\n          - rule: regex\n            mustBe: "{quoted}"',
        "invalidValues": f'quality:\n          - metric: invalidValues\n            arguments:\n              pattern: "{quoted}"\n            mustBe: 0',
    }[style]
    return textwrap.dedent(
        """\
        apiVersion: v3.1.0
        kind: DataContract
        id: shop.orders
        version: 1.0.0
        schema:
          - name: orders
            properties:
              - name: code
                logicalType: string
                {where}
        """
    ).format(where=where)


def problems(text):
    with pytest.raises(odcs.ContractInvalid) as refused:
        odcs.parse(text)
    return [str(p) for p in refused.value.problems]


@pytest.mark.parametrize("pattern", list(PYTHON_ONLY))
@pytest.mark.parametrize("style", ["options", "regex", "invalidValues"])
def test_python_only_syntax_is_refused_with_the_reason(pattern, style):
    [problem] = problems(document(pattern, style))
    assert problem.startswith("schema[0].properties[0].")
    assert PYTHON_ONLY[pattern] in problem
    assert "Python-only" in problem or "invalid regular expression" in problem


@pytest.mark.parametrize("pattern", INVALID_EVERYWHERE)
def test_a_pattern_python_refuses_is_refused_too(pattern):
    [problem] = problems(document(pattern))
    assert "invalid regular expression" in problem


@pytest.mark.parametrize("pattern", JAVA_AND_PYTHON)
def test_a_pattern_both_engines_read_is_accepted(pattern):
    assert odcs.parse(document(pattern)).contract_id == "shop.orders"
