import pytest


@pytest.fixture(scope="session")
def spark():
    """The process's shared local SparkSession (created once for the whole test session)."""
    from pipelines.spark import get_spark

    return get_spark()


@pytest.fixture
def demo_contracts(db):
    """The demo contracts, present again after a transactional test flushed what the migration loaded."""
    from contracts.demo import load_demo_contracts
    from contracts.models import Contract, ContractVersion

    load_demo_contracts(Contract, ContractVersion)
