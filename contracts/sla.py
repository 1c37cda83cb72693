"""A contract's `slaProperties` that a stream can measure per micro-batch, as plain frozen data.

ODCS lists many SLA properties; three make sense for one micro-batch, and only these are compiled:

- `latency`: publish time minus the event time of the batch's oldest row (its largest latency);
  the event-time column is the SLA's `element` (`table.column` or `column`);
- `frequency`: the gap between this batch and the run's previous non-empty batch;
- `timeToDetect`: the batch's verdict time minus the event time of its oldest failing row.

Each becomes a `Rule` of kind `sla` (a metric rule: one number per batch, `mustBeLessOrEqualTo`
its value, in the SLA's unit), so it is judged, stored as a RuleResult and charted like every
other rule. A breach warns; under enforce it blocks only when the contract's `customProperties`
entry `dc43.slaSeverity` says `error` for it (ODCS v3.1 allows no extra field on an SLA item).
docs/semantics.md is the reference; nothing here knows Spark.
"""

from dataclasses import dataclass

from contracts.values import is_number

KIND = "sla"
LATENCY, FREQUENCY, TIME_TO_DETECT = "latency", "frequency", "timeToDetect"
MEASURED = (LATENCY, FREQUENCY, TIME_TO_DETECT)
# The properties that read an event time from `element`.
NEEDS_ELEMENT = (LATENCY, TIME_TO_DETECT)
SEVERITY_PROPERTY = "dc43.slaSeverity"

# ODCS spells units d, h, m, s (and says "d, day, days"): each spelling, in seconds.
SECONDS = {}
for _seconds, _names in (
    (1, ("s", "sec", "secs", "second", "seconds")),
    (60, ("m", "min", "mins", "minute", "minutes")),
    (3600, ("h", "hr", "hrs", "hour", "hours")),
    (86400, ("d", "day", "days")),
):
    SECONDS.update(dict.fromkeys(_names, _seconds))


@dataclass(frozen=True)
class Sla:
    """One measurable SLA: `value` in `unit`; `column` is the event-time column of `element`, if any."""

    property: str
    value: float
    unit: str
    element: str = ""
    column: str | None = None
    driver: str = ""
    severity: str = "warning"
    source: str = ""
    problem: str = ""  # why it cannot be measured, when it cannot

    @property
    def name(self):
        return f"sla.{self.property}" + (f"@{self.column}" if self.column else "")

    @property
    def seconds_per_unit(self):
        return SECONDS[self.unit.strip().lower()]

    def in_unit(self, seconds):
        """A duration in seconds, in the SLA's unit (rounded to the millisecond's worth)."""
        return round(seconds / self.seconds_per_unit, 6)

    def breached(self, measured):
        return measured is not None and measured > self.value


def of_rule(rule):
    """The SLA a compiled `sla` rule stands for (what measuring it needs)."""
    return Sla(property=rule.params["property"], value=rule.threshold, unit=rule.unit, column=rule.column)


def element_column(element):
    """The column an `element` names: `column`, or `table.column` (the first, when it lists several)."""
    first = str(element or "").split(",")[0].strip()
    if not first:
        return None
    return first.rpartition(".")[2]


def parse_slas(document):
    """The measurable SLAs of an ODCS document, in document order; other properties are left out."""
    severities = _severities(document.get("customProperties"))
    slas = []
    for i, item in enumerate(document.get("slaProperties") or []):
        if not isinstance(item, dict) or item.get("property") not in MEASURED:
            continue
        prop = item["property"]
        value, unit = item.get("value"), str(item.get("unit") or "").strip()
        column = element_column(item.get("element"))
        problem = ""
        if isinstance(value, bool) or not is_number(value):
            problem = f"value {value!r} is not a number"
        elif unit.lower() not in SECONDS:
            problem = f"unit {unit!r} is not d, h, m or s" if unit else "no unit (d, h, m or s)"
        elif prop in NEEDS_ELEMENT and not column:
            problem = f"{prop} needs `element` naming the event-time column"
        slas.append(
            Sla(
                property=prop,
                value=float(value) if not problem else 0.0,
                unit=unit,
                element=str(item.get("element") or ""),
                column=column,
                driver=str(item.get("driver") or ""),
                severity=severities.get(f"{prop}@{column}", severities.get(prop, "warning")),
                source=f"slaProperties[{i}]",
                problem=problem,
            )
        )
    return slas


def _severities(custom_properties):
    """`dc43.slaSeverity`: {property or property@column: error|warning}; anything but error reads as warning."""
    for prop in custom_properties or []:
        if isinstance(prop, dict) and prop.get("property") == SEVERITY_PROPERTY and isinstance(prop.get("value"), dict):
            return {str(k): "error" if str(v).lower() == "error" else "warning" for k, v in prop["value"].items()}
    return {}


def measure(sla, *, verdict_at, oldest_event=None, oldest_failing_event=None, started_at=None, previous_started=None):
    """What an SLA measured on one batch, in its unit; or {"skipped": why} when the batch gives it nothing.

    Times are epoch seconds (floats). `oldest_event` is the batch's smallest event time,
    `oldest_failing_event` that of its rows breaking a row rule, `previous_started` when the run's
    previous non-empty batch started.
    """
    if sla.property == LATENCY:
        if oldest_event is None:
            return {"skipped": f"no event time in {sla.column}"}
        return sla.in_unit(max(verdict_at - oldest_event, 0.0))
    if sla.property == FREQUENCY:
        if previous_started is None or started_at is None:
            return {"skipped": "the first batch with rows of the run has no earlier one"}
        return sla.in_unit(max(started_at - previous_started, 0.0))
    if oldest_failing_event is None:
        return {"skipped": "no failing row with an event time"}
    return sla.in_unit(max(verdict_at - oldest_failing_event, 0.0))
