"""registry/anomalies.py on synthetic series whose anomalies are known."""

import pytest

from registry.anomalies import (
    ON,
    RATE,
    SITE_DEFAULTS,
    Anomaly,
    latest_anomaly,
    online_normal,
    relative_rate_of_change,
    settings_of,
)


@pytest.mark.parametrize(
    ("series", "decrease", "increase", "order", "flagged"),
    [
        ([100, 110, 250, 240, 100], 0.5, 2.0, 1, [2, 4]),  # 250/110 > 2; 100/240 < 0.5
        ([100, 110, 250, 240, 130], 0.5, 2.0, 1, [2]),
        ([10, 10, 10, 4, 10], 0.5, None, 1, [3]),  # only falls watched: 10/4 rises freely
        ([10, 10, 10, 4, 10], None, 2.0, 1, [4]),  # only rises watched
        ([10, 20, 11, 60, 12], None, 2.5, 2, [3]),  # order 2: 60 against 20, two places before
        ([0, 0, 5], 0.5, 2.0, 1, [2]),  # a rise from nothing
        ([0, 0, 0], 0.5, 2.0, 1, []),
    ],
)
def test_relative_rate_of_change_flags_the_points_whose_ratio_leaves_the_band(
    series, decrease, increase, order, flagged
):
    found = relative_rate_of_change(series, decrease, increase, order)
    assert [a.index for a in found] == flagged


def test_the_rate_band_is_the_previous_point_times_the_ratios():
    (anomaly,) = relative_rate_of_change([100, 300], 0.5, 2.0)
    assert anomaly == Anomaly(1, 300, 50.0, 200.0, RATE)


def test_online_normal_flags_a_spike_after_enough_points_and_keeps_it_out_of_the_mean():
    series = [10, 12, 10, 12, 10, 12, 40, 11, 10, 12]
    found = online_normal(series, sigmas=3, window=20, min_points=5)
    assert [a.index for a in found] == [6]
    (spike,) = found
    # mean 11, population std 1 over the six points before: the band is 8 .. 14
    assert (spike.lower, spike.upper, spike.strategy) == (8.0, 14.0, ON)


def test_online_normal_says_nothing_before_min_points():
    assert online_normal([1, 100, 1, 100], sigmas=1, min_points=5) == []


def test_online_normal_counts_only_the_last_window_of_points():
    series = [10, 11, 9, 10, 11, 9, 50, 50.5, 49.5, 50]
    # With flagged points counted, the level shift enters the window and the new level is normal at once.
    assert [a.index for a in online_normal(series, window=3, min_points=3, ignore_anomalies=False)] == [6]
    # Kept out of it (Deequ's ignoreAnomalies), the new level stays flagged: the window never learns it.
    assert [a.index for a in online_normal(series, window=3, min_points=3)] == [6, 7, 8, 9]


def test_a_constant_series_flags_any_change():
    assert [a.index for a in online_normal([5, 5, 5, 5, 5, 6], min_points=5)] == [5]


def test_latest_anomaly_judges_only_the_newest_point():
    setting = {**SITE_DEFAULTS, "min_points": 3}
    assert latest_anomaly([10, 11, 10, 11, 10, 40], setting).value == 40
    assert latest_anomaly([10, 11, 40, 11, 10, 11], setting) is None
    rate = {**SITE_DEFAULTS, "strategy": RATE}
    assert latest_anomaly([100, 90, 30], rate) == Anomaly(1, 30, 45.0, 180.0, RATE)
    assert latest_anomaly([], setting) is None


def test_settings_come_from_the_contracts_custom_property_filled_with_the_site_defaults():
    document = {
        "customProperties": [
            {"property": "owner", "value": "x"},
            {
                "property": "dc43.anomaly",
                "value": [
                    {"metric": "rowCount", "strategy": "onlineNormal", "sigmas": 2},
                    {"metric": "failureRate", "rule": "value.required", "strategy": RATE, "maxRateIncrease": 3},
                    {"metric": "nonsense"},
                    {"metric": "rowCount", "strategy": "unknown"},
                ],
            },
        ]
    }
    row_count, failures = settings_of(document, {"window": 10})
    assert (row_count["sigmas"], row_count["window"], row_count["severity"]) == (2, 10, "warning")
    assert (failures["rule"], failures["max_rate_increase"], failures["max_rate_decrease"]) == (
        "value.required",
        3,
        0.5,
    )
    assert settings_of({}) == []
