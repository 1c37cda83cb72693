"""The demo scenarios, as data: what the page, the command and the API offer.

No pyspark here: the scenarios page reads this without starting a JVM.
"""

from dataclasses import dataclass

INPUT_CONTRACT = "demo.streaming.events"
OUTPUT_CONTRACT = "demo.streaming.events_processed"
REJECTS_CONTRACT = "demo.streaming.events_rejects"
DEMO_VERSION = "0.1.0"
RUN_TYPES = ("observe", "enforce")
MIN_SECONDS, MAX_SECONDS = 1, 3600


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    summary: str
    shows: str
    default_seconds: int
    default_run_type: str
    routes_rejects: bool = False


SCENARIOS = {
    s.key: s
    for s in [
        Scenario(
            key="streaming-valid",
            title="Healthy stream",
            summary="Spark's rate source, 6 rows/s, tagged quality_flag = 'valid'.",
            shows="Every micro-batch passes the output contract and publishes a dataset version.",
            default_seconds=8,
            default_run_type="observe",
        ),
        Scenario(
            key="streaming-dq-rejects",
            title="Quarantine of bad rows",
            summary="Every fourth row gets a negative value and quality_flag = 'warning'.",
            shows="Rows failing value >= 0 go to the rejects dataset with their reasons; the rest reach the output.",
            default_seconds=8,
            default_run_type="observe",
            routes_rejects=True,
        ),
        Scenario(
            key="streaming-schema-break",
            title="Schema break",
            summary="The required column `value` is dropped before the write.",
            shows="The schema gate blocks the run before any streaming query starts; nothing is published.",
            default_seconds=3,
            default_run_type="enforce",
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
    if run_type not in RUN_TYPES:
        raise ValueError(f"unknown run_type {run_type!r}; choose one of: {', '.join(RUN_TYPES)}")
    return scenario, seconds, run_type
