"""sql rules on save: one read-only SELECT over the batch view, refused otherwise whatever the site's setting."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sql_cases import ACCEPTED, REFUSED

from contracts import odcs, sqlrules

ROOT = Path(__file__).resolve().parents[2]


def document(query):
    return textwrap.dedent(
        f"""\
        apiVersion: v3.0.2
        kind: DataContract
        id: shop.orders
        version: 1.0.0
        schema:
          - name: orders
            properties:
              - name: x
                logicalType: integer
            quality:
              - type: sql
                query: "{query}"
                mustBe: 0
        """
    )


@pytest.mark.parametrize("query", ACCEPTED)
def test_a_select_over_the_batch_view_is_accepted(query):
    assert sqlrules.refusal(query) is None


@pytest.mark.parametrize("query", list(REFUSED))
def test_anything_else_is_refused_with_a_reason(query):
    reason = sqlrules.refusal(query)
    assert reason
    assert REFUSED[query] in reason


def test_a_refused_query_refuses_the_document_and_names_the_rule(settings):
    settings.DC43_SQL_RULES = "restricted"
    with pytest.raises(odcs.ContractInvalid) as refused:
        odcs.parse(document("SELECT reflect('java.lang.System', 'getenv', 'HOME')"))
    assert [str(p) for p in refused.value.problems] == ["schema[0].quality[0].query: refused: calls reflect()"]


@pytest.mark.parametrize("mode", ["off", "restricted"])
def test_the_document_is_refused_whatever_the_setting_says(settings, mode):
    settings.DC43_SQL_RULES = mode
    with pytest.raises(odcs.ContractInvalid, match="reads other_table"):
        odcs.parse(document("SELECT COUNT(*) FROM other_table"))
    assert odcs.parse(document("SELECT COUNT(*) FROM {object} WHERE x < 0")).contract_id == "shop.orders"


def read_setting(**env):
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "JAVA_HOME", "TMPDIR")}
    code = "import django; from django.conf import settings; django.setup(); print(settings.DC43_SQL_RULES)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**keep, "DJANGO_SETTINGS_MODULE": "dc43site.settings", "DEBUG": "true", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sql_rules_are_off_unless_the_operator_says_restricted():
    assert read_setting().stdout.strip() == "off"
    assert read_setting(DC43_SQL_RULES="restricted").stdout.strip() == "restricted"


def test_a_malformed_setting_is_a_configuration_error_naming_it():
    result = read_setting(DC43_SQL_RULES="on")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DC43_SQL_RULES must be one of off, restricted, got 'on'" in result.stderr
