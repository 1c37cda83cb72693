"""The three demo scenarios, which are pipelines now: their definitions are pipelines/demo/*.yaml (rows of
registry.Pipeline, which the runner reads). What stays here is what the scenario page and `run_scenario
--list` say about them, read from those files, and the names older callers import.

No pyspark here: the scenarios page reads this without starting a JVM.
"""

from dataclasses import dataclass

from pipelines.specs import demo_spec_files, read_specs

INPUT_CONTRACT = "demo.streaming.events"
OUTPUT_CONTRACT = "demo.streaming.events_processed"
REJECTS_CONTRACT = "demo.streaming.events_rejects"
DEMO_VERSION = "0.1.0"
# What each scenario shows: (summary, what to look at), in the order the page lists them.
TEXTS = {
    "streaming-valid": (
        "Spark's rate source, 6 rows/s, tagged quality_flag = 'valid'.",
        "Every micro-batch passes the output contract and publishes a dataset version.",
    ),
    "streaming-dq-rejects": (
        "Every fourth row gets a negative value and quality_flag = 'warning'.",
        "Rows failing value >= 0 go to the rejects dataset with their reasons; the rest reach the output.",
    ),
    "streaming-schema-break": (
        "The required column `value` is dropped before the write.",
        "The schema gate blocks the run before any streaming query starts; nothing is published.",
    ),
}


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    summary: str
    shows: str
    default_seconds: int
    default_run_type: str
    transform: str
    rejects_contract: str | None = None

    @property
    def routes_rejects(self):
        return self.rejects_contract is not None


def _scenarios():
    specs = {spec["key"]: spec for path in demo_spec_files() for spec in read_specs(path.read_text())}
    return {
        key: Scenario(
            key=key,
            title=specs[key]["title"],
            summary=summary,
            shows=shows,
            default_seconds=specs[key]["default_seconds"],
            default_run_type=specs[key]["run_type"],
            transform=specs[key]["transform"],
            rejects_contract=(specs[key].get("rejects_contract") or "").partition("@")[0] or None,
        )
        for key, (summary, shows) in TEXTS.items()
    }


SCENARIOS = _scenarios()


def check_run_request(key, seconds, run_type):
    """(pipeline, seconds, run_type) of a windowed run request; raises ValueError naming the valid choices."""
    from pipelines.runner import check_run_request as check

    request = check(key, seconds=seconds, run_type=run_type)
    return request.pipeline, request.seconds, request.run_type
