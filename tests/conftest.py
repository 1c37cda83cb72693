import pytest


@pytest.fixture(scope="session")
def spark():
    """The process's shared local SparkSession (created once for the whole test session)."""
    from pipelines.spark import get_spark

    return get_spark()
