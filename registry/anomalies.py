"""Anomaly detection on a contract's batch series, with two of Deequ's published strategies, written here
from their definitions (no Spark, no database: series in, flags out; `registry.models.watch` feeds it).

- Relative rate of change (Deequ's `RelativeRateOfChangeStrategy`): a point is anomalous when its
  ratio to the point `order` places before it falls below `max_rate_decrease` or above
  `max_rate_increase`. The band is the previous point times those two ratios.
- Online normal (Deequ's `OnlineNormalStrategy`): a running mean and standard deviation of the
  points before, and a point outside mean - lower_sigmas * std .. mean + upper_sigmas * std is
  anomalous. Deequ runs over the whole history; a stream has no end, so here it covers the last
  `window` points, and flagged points stay out of the mean, as with Deequ's `ignoreAnomalies`.
  Nothing is flagged before `min_points` points are known.

Series, one value per non-empty micro-batch, oldest first: `rowCount` (rows per batch),
`failureRate` (a rule's failed rows / rows, per rule), `nullRate` (null rows / rows of a column:
measured by the column's not-null rule, so only columns with a `required` or not-null rule have it).

Settings: the contract's `customProperties` entry `dc43.anomaly`, one object or a list, e.g.
`{metric: rowCount, strategy: onlineNormal, sigmas: 3}`; `rule` or `column` narrow failureRate and
nullRate. Missing keys come from the site's DC43_ANOMALY_DEFAULTS. `severity: error` makes an
anomaly count against the batch's verdict; any other severity only reports it.
"""

import math
from dataclasses import asdict, dataclass

ON, RATE = "onlineNormal", "relativeRateOfChange"
STRATEGIES = (ON, RATE)
METRICS = ("rowCount", "failureRate", "nullRate")
PROPERTY = "dc43.anomaly"
SITE_DEFAULTS = {
    "strategy": ON,
    "sigmas": 3.0,
    "window": 20,
    "min_points": 5,
    "max_rate_decrease": 0.5,
    "max_rate_increase": 2.0,
    "order": 1,
    "severity": "warning",
}


@dataclass(frozen=True)
class Anomaly:
    index: int  # the point's place in the series
    value: float
    lower: float | None
    upper: float | None
    strategy: str

    def as_dict(self):
        return asdict(self)


def relative_rate_of_change(series, max_rate_decrease=None, max_rate_increase=None, order=1):
    """Every point whose ratio to the point `order` before it leaves [max_rate_decrease, max_rate_increase]."""
    found = []
    for i in range(order, len(series)):
        before, value = series[i - order], series[i]
        lower = before * max_rate_decrease if max_rate_decrease is not None else None
        upper = before * max_rate_increase if max_rate_increase is not None else None
        if before == 0:
            # No ratio to 0: any change from nothing is a rise past every bound, no change is none.
            if value != 0 and max_rate_increase is not None:
                found.append(Anomaly(i, value, lower, upper, RATE))
            continue
        ratio = value / before
        if (max_rate_decrease is not None and ratio < max_rate_decrease) or (
            max_rate_increase is not None and ratio > max_rate_increase
        ):
            found.append(Anomaly(i, value, lower, upper, RATE))
    return found


def online_normal(series, sigmas=3.0, upper_sigmas=None, window=20, min_points=5, ignore_anomalies=True):
    """Every point outside mean +- sigmas * std of the (up to `window`) unflagged points before it."""
    upper_sigmas = sigmas if upper_sigmas is None else upper_sigmas
    found, kept = [], []
    for i, value in enumerate(series):
        recent = kept[-window:]
        if len(recent) >= min_points:
            mean = sum(recent) / len(recent)
            std = math.sqrt(sum((x - mean) ** 2 for x in recent) / len(recent))
            lower, upper = mean - sigmas * std, mean + upper_sigmas * std
            if value < lower or value > upper:
                found.append(Anomaly(i, value, round(lower, 6), round(upper, 6), ON))
                if ignore_anomalies:
                    continue
        kept.append(value)
    return found


def latest_anomaly(series, setting):
    """The newest point of `series` judged against the points before it under `setting`; None when normal."""
    if setting["strategy"] == RATE:
        order = int(setting["order"])
        points = series[-(order + 1) :]
        found = relative_rate_of_change(
            points, setting.get("max_rate_decrease"), setting.get("max_rate_increase"), order
        )
    else:
        # Twice the window: the points that decide which of the window's points were themselves flagged.
        points = series[-(int(setting["window"]) * 2 + 1) :]
        found = online_normal(
            points, float(setting["sigmas"]), window=int(setting["window"]), min_points=int(setting["min_points"])
        )
    if found and found[-1].index == len(points) - 1:
        return found[-1]
    return None


# Deequ's and ODCS's spellings beside ours.
ALIASES = {
    "maxRateDecrease": "max_rate_decrease",
    "maxRateIncrease": "max_rate_increase",
    "minPoints": "min_points",
    "deviations": "sigmas",
}


def settings_of(document, defaults=None):
    """The anomaly settings a contract document asks for, each filled from the site's defaults; [] when none."""
    base = {**SITE_DEFAULTS, **(defaults or {})}
    entries = []
    for prop in document.get("customProperties") or []:
        if isinstance(prop, dict) and prop.get("property") == PROPERTY:
            value = prop.get("value")
            entries.extend(value if isinstance(value, list) else [value])
    settings = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("metric") not in METRICS:
            continue
        setting = {**base, **{ALIASES.get(k, k): v for k, v in entry.items()}}
        if setting["strategy"] not in STRATEGIES:
            continue
        settings.append(setting)
    return settings
