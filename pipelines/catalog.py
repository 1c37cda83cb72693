"""The demo scenarios, as data: what the page, the command and the API offer, and what a run does.

No pyspark here: the scenarios page reads this without starting a JVM. A scenario names its
transform by dotted path; only the runner imports it (pipelines/transforms.py imports pyspark).
"""

from dataclasses import dataclass

from contracts.checks import RunType

INPUT_CONTRACT = "demo.streaming.events"
OUTPUT_CONTRACT = "demo.streaming.events_processed"
REJECTS_CONTRACT = "demo.streaming.events_rejects"
DEMO_VERSION = "0.1.0"
# Spark's rate source, as dc43's demo reads it.
RATE_OPTIONS = {"rowsPerSecond": 6, "numPartitions": 1}
MIN_SECONDS, MAX_SECONDS = 1, 3600


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    summary: str
    shows: str
    default_seconds: int
    default_run_type: str
    transform: str  # dotted path of a function DataFrame -> DataFrame, applied to the source
    rejects_contract: str | None = None  # where rows failing a row rule go; None keeps them in the output

    @property
    def routes_rejects(self):
        return self.rejects_contract is not None


SCENARIOS = {
    s.key: s
    for s in [
        Scenario(
            key="streaming-valid",
            title="Healthy stream",
            summary="Spark's rate source, 6 rows/s, tagged quality_flag = 'valid'.",
            shows="Every micro-batch passes the output contract and publishes a dataset version.",
            default_seconds=8,
            default_run_type=RunType.OBSERVE,
            transform="pipelines.transforms.healthy",
        ),
        Scenario(
            key="streaming-dq-rejects",
            title="Quarantine of bad rows",
            summary="Every fourth row gets a negative value and quality_flag = 'warning'.",
            shows="Rows failing value >= 0 go to the rejects dataset with their reasons; the rest reach the output.",
            default_seconds=8,
            default_run_type=RunType.OBSERVE,
            transform="pipelines.transforms.with_bad_rows",
            rejects_contract=REJECTS_CONTRACT,
        ),
        Scenario(
            key="streaming-schema-break",
            title="Schema break",
            summary="The required column `value` is dropped before the write.",
            shows="The schema gate blocks the run before any streaming query starts; nothing is published.",
            default_seconds=3,
            default_run_type=RunType.ENFORCE,
            transform="pipelines.transforms.schema_break",
        ),
    ]
}


def check_run_request(key, seconds, run_type):
    """Validate a run request; raises ValueError naming the valid choices."""
    if key not in SCENARIOS:
        raise ValueError(f"unknown scenario {key!r}; choose one of: {', '.join(SCENARIOS)}")
    scenario = SCENARIOS[key]
    seconds = scenario.default_seconds if seconds is None else seconds
    run_type = scenario.default_run_type if run_type is None else run_type
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be a whole number from {MIN_SECONDS} to {MAX_SECONDS}, got {seconds!r}")
    if run_type not in RunType.values:
        raise ValueError(f"unknown run_type {run_type!r}; choose one of: {', '.join(RunType.values)}")
    return scenario, seconds, run_type
