"""The rule page (/contracts/<id>/rules/<key>/) and the contract page's rule trends, from RuleResult rows."""

from datetime import timedelta

import pytest
from django.utils import timezone
from markup import by_id, elements
from simulate import OUTPUT, SimulatedRun

from contracts.checks import OBSERVE, compile_contract, judge
from contracts.models import ContractVersion
from registry.models import Dataset, Run

pytestmark = pytest.mark.django_db

RULE = "value.mustBeGreaterOrEqualTo"


def record(run, cv, batch_id, failing, at):
    metrics = judge(compile_contract(cv.document), {"rows": 10, "violations": failing, RULE: failing}, OBSERVE)
    return run.record_batch(
        {
            "batch_id": batch_id,
            "status": "warn" if failing else "ok",
            "row_count": 10,
            "violations": failing,
            "metrics": {"rules": [r.as_dict() for r in metrics.results]},
            "started_at": at - timedelta(seconds=1),
            "finished_at": at,
        }
    )[0]


def play(cv, failures, start):
    """A finished run under `cv` whose batch i fails `failures[i]` rows of the rule, a second apart."""
    run = SimulatedRun("streaming-dq-rejects").start().run
    Run.objects.filter(pk=run.pk).update(contract_version=cv)
    for i, failing in enumerate(failures):
        record(run, cv, i, failing, start + timedelta(seconds=i))
    run.finish()
    return run


@pytest.fixture
def history():
    return make_history()


def make_history():
    """Two runs under 0.1.0, then one under 0.2.0, which changed nothing about the rules."""
    first = ContractVersion.objects.resolve(OUTPUT, "0.1.0")
    Dataset.objects.get_or_create(name=OUTPUT, defaults={"contract": first.contract})
    second = ContractVersion(contract=first.contract, version="0.2.0", document={**first.document, "version": "0.2.0"})
    second.save()
    start = timezone.now() - timedelta(hours=1)
    runs = [
        play(first, [0, 0, 0], start),
        play(first, [0, 2, 0], start + timedelta(minutes=10)),
        play(second, [7, 0, 3], start + timedelta(minutes=20)),
    ]
    return {"runs": runs, "key": second.rule_keys()[RULE], "first": first, "second": second}


def rule_url(key, contract_id=OUTPUT):
    return f"/contracts/{contract_id}/rules/{key}/"


def test_the_rule_page_charts_failures_per_batch_across_runs_with_the_version_change_marked(client, viewer, history):
    client.force_login(viewer)
    response = client.get(rule_url(history["key"]))
    assert response.status_code == 200
    html = response.content.decode()
    chart = by_id(html, "rule-chart")
    assert chart is not None
    titles = [e.text for e in elements(html) if e.tag == "title" and e.text.startswith("batch ")]
    assert len(titles) == 9
    assert [int(t.split(": ")[-1].split(" of ")[0]) for t in titles] == [0, 0, 0, 0, 2, 0, 7, 0, 3]
    changes = [e for e in elements(html) if e.tag == "g" and e.attrs.get("class") == "version-change"]
    assert len(changes) == 1
    assert "where another contract version took over (0.2.0)" in html


def test_the_worst_batches_are_listed_most_failed_first_and_link_to_their_runs(client, viewer, history):
    client.force_login(viewer)
    html = client.get(rule_url(history["key"])).content.decode()
    table = html.split('id="worst-batches"')[1].split("</table>")[0]
    rows = table.split("<tbody>")[1].split("</tr>")[:-1]
    assert [row.count('class="num"') for row in rows] == [2, 2, 2]
    last, middle = history["runs"][2], history["runs"][1]
    assert rows[0].index(last.get_absolute_url()) and ">7<" in rows[0]
    assert ">3<" in rows[1] and last.get_absolute_url() in rows[1]
    assert ">2<" in rows[2] and middle.get_absolute_url() in rows[2] and ">0.1.0<" in rows[2]


def test_an_unknown_rule_or_contract_is_404(client, viewer, history):
    client.force_login(viewer)
    assert client.get(rule_url("value.compare.0000000000")).status_code == 404
    assert client.get(rule_url(history["key"], "no.such.contract")).status_code == 404


def test_the_rule_page_costs_the_same_queries_for_a_long_history(client, viewer, history, django_assert_num_queries):
    client.force_login(viewer)
    with django_assert_num_queries(5):  # session, user, contract, newest results, worst batches
        client.get(rule_url(history["key"]))


def test_the_contract_page_shows_each_rules_trend_last_failure_and_the_version_failures_started_under(
    client, viewer, history
):
    client.force_login(viewer)
    html = client.get(f"/contracts/{OUTPUT}/").content.decode()
    row = html.split(f'id="trend-{history["key"]}"')[1].split("</tr>")[0]
    assert rule_url(history["key"]) in row
    assert "<polyline" in row
    assert "33.33 % now, 33.33 % at most" in row  # the last run failed 10 of its 30 rows
    assert history["runs"][2].get_absolute_url() in row  # its last failure
    assert "0.1.0" in row.split("</td>")[-2]  # failures started under 0.1.0
    required = html.split('id="trend-')[1].split("</tr>")[0]
    assert "never" in required


def test_a_contract_without_results_says_so(client, viewer):
    client.force_login(viewer)
    html = client.get("/contracts/shop.orders/").content.decode()
    assert "Rules over the last runs" in html and "not measured yet" in html
