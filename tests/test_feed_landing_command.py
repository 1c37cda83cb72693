"""`manage.py feed_landing`: whole files of orders in a pipeline's landing folder, bad and malformed on request."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from pipelines.specs import load_demo_pipelines
from registry.pipelines import Pipeline

pytestmark = pytest.mark.django_db
CURRENCIES = {"EUR", "USD", "GBP", "CHF"}


@pytest.fixture
def landing(tmp_path, demo_contracts):
    """orders-landing, watching a folder of this test that does not exist yet."""
    load_demo_pipelines(Pipeline)
    folder = tmp_path / "landing" / "orders"
    Pipeline.objects.filter(key="orders-landing").update(source_path=str(folder))
    return folder


def feed(*args):
    out = StringIO()
    call_command("feed_landing", *[str(a) for a in args], stdout=out)
    return out.getvalue()


def parsed(path):
    """(orders, malformed lines) of a landing file."""
    orders, malformed = [], []
    for line in path.read_text().splitlines():
        try:
            orders.append(json.loads(line))
        except json.JSONDecodeError:
            malformed.append(line)
    return orders, malformed


def breaks_the_contract(order):
    return order["amount"] < 0 or order["currency"] not in CURRENCIES


def test_it_creates_the_folder_and_writes_n_files_of_m_good_orders(landing):
    out = feed("orders-landing", "--files", 3, "--rows", 5)
    files = sorted(landing.iterdir())
    assert [f.name.startswith("orders-") and f.suffix == ".json" for f in files] == [True] * 3
    for path in files:
        orders, malformed = parsed(path)
        assert (len(orders), malformed) == (5, [])
        assert set(orders[0]) == {"order_id", "amount", "currency", "status", "ordered_at"}
        assert not any(breaks_the_contract(order) for order in orders)
        assert f"wrote {path}: 5 orders, 0 breaking the contract, 0 malformed lines" in out
    assert out.splitlines()[-1] == f"3 files in {landing}: 15 orders, 0 bad, 0 malformed lines"


def test_bad_ratio_and_malformed_lines_are_counted_exactly_per_file(landing):
    feed("orders-landing", "--files", 2, "--rows", 10, "--bad-ratio", 0.3, "--malformed", 2, "--seed", 7)
    for path in landing.iterdir():
        orders, malformed = parsed(path)
        assert len(orders) == 10
        assert sum(breaks_the_contract(order) for order in orders) == 3
        assert len(malformed) == 2


def test_no_temporary_file_is_left_behind(landing):
    feed("orders-landing", "--files", 4, "--rows", 3, "--malformed", 1)
    names = [p.name for p in landing.iterdir()]
    assert len(names) == 4
    assert not [name for name in names if name.startswith((".", "_")) or name.endswith(".tmp")]


def test_the_same_seed_writes_the_same_orders_under_new_names(landing):
    feed("orders-landing", "--rows", 6, "--bad-ratio", 0.5, "--malformed", 1, "--seed", 42)
    [first] = list(landing.iterdir())
    feed("orders-landing", "--rows", 6, "--bad-ratio", 0.5, "--malformed", 1, "--seed", 42)
    [second] = [p for p in landing.iterdir() if p != first]
    assert second.read_text() == first.read_text()
    feed("orders-landing", "--rows", 6, "--seed", 43)
    [third] = [p for p in landing.iterdir() if p not in (first, second)]
    assert parsed(third)[0] != parsed(first)[0]


def test_a_rate_pipeline_is_refused(landing):
    with pytest.raises(CommandError, match="streaming-valid reads a rate source") as caught:
        feed("streaming-valid", "--files", 1)
    assert caught.value.returncode == 2


def test_an_unknown_pipeline_is_refused_listing_the_landing_pipelines(landing):
    with pytest.raises(CommandError, match=r"no pipeline 'nope' \(landing pipelines: orders-landing\)") as caught:
        feed("nope")
    assert caught.value.returncode == 2
    assert not landing.exists()
