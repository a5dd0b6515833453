"""Numbers in messages: every magnitude keeps its digits and its unit, and a value and the
level it is compared with print in their true order (docs/ALERTING.md, "What a notification
says").  A reviewer's findings: below 1e-4 digits were lost ("is 0.00001, above the warn
level 0.00001" for 1.04e-5 against 1e-5), below ~5e-7 everything printed as "0"."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest

from agent.collectors.base import Samples
from agent.pipeline import Pipeline
from agent.store import Store
from alerting import format as fmt
from alerting.format import format_metric_apart, format_value
from analyzers.base import SeriesKey
from analyzers.threshold import ThresholdAnalyzer, ThresholdRule

# Every unit the formatter knows, and one it shows as a word.
UNITS = sorted({*fmt._SUFFIX, "bytes", "bytes_per_second", "processes"})
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
_BINARY = {"": 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5}


def suffixes(unit: str) -> dict[str, Fraction]:
    """What may follow the number for `unit`, and how many base units it stands for."""
    if unit in ("bytes", "bytes_per_second"):
        per = "/s" if unit == "bytes_per_second" else ""
        return {f" {p}B{per}": Fraction(n) for p, n in _BINARY.items()}
    if unit == "seconds":
        return {" s": Fraction(1), " ms": Fraction(1, 10**3), " µs": Fraction(1, 10**6),
                " ns": Fraction(1, 10**9)}  # fmt: skip
    word = fmt._SUFFIX.get(unit, " " + unit.replace("_", " "))
    return {word: Fraction(1)}


def read_back(text: str, unit: str) -> Fraction:
    """The printed number, exactly, in the base unit; it must carry the unit's suffix."""
    number = _NUMBER.match(text)
    assert number is not None, text
    suffix = text[number.end() :]
    known = suffixes(unit)
    assert suffix in known, (text, unit)
    return Fraction(number.group(0)) * known[suffix]


def neighbours(level: float) -> list[float]:
    """Values just below and above the level, from 1 % away to the next float."""
    out = [math.nextafter(level, -math.inf), math.nextafter(level, math.inf)]
    for rel in (1e-2, 1e-4, 1e-6, 1e-9, 1e-12):
        out += [level * (1 - rel), level * (1 + rel)]
    return [v for v in out if v != level]


@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_keeps_the_shown_comparison_at_every_magnitude(unit: str) -> None:
    """From 1e-9 to 1e12, a value just above, just below or at a level prints on the same
    side of the printed level (read back exactly), with the unit, and alone keeps three
    significant digits."""
    for exponent in range(-9, 13):
        for mantissa in (1.0, 2.5, 7.3):
            level = mantissa * 10.0**exponent
            shown_level = read_back(format_value(level, unit), unit)
            assert abs(shown_level - Fraction(level)) <= Fraction(level) / 200, (unit, level)
            at = format_value(level, unit, against=level)
            assert at == format_value(level, unit), (unit, level)
            for value in neighbours(level):
                a = read_back(format_value(value, unit, against=level), unit)
                b = read_back(format_value(level, unit, against=value), unit)
                assert (a > b) == (value > level) and a != b, (unit, value, level)
                alone = read_back(format_value(value, unit), unit)
                assert abs(alone - Fraction(value)) <= Fraction(value) / 200, (unit, value)


def test_small_numbers_keep_their_digits() -> None:
    assert format_value(1.04e-5, "ratio", against=1e-5) == "1.04e-5"
    assert format_value(1e-5, "ratio", against=1.04e-5) == "1e-5"
    assert format_value(3.14159e-7, "") == "3.14e-7"
    assert format_value(0.000123456, "") == "0.000123"  # plain while readable
    assert format_value(-2.5e-6, "") == "-2.5e-6"
    assert format_value(0.0, "ratio") == "0"
    # A float's shortest form is kept at 17 digits: the level set as 0.3 reads 0.3.
    assert format_value(0.1 + 0.2, "", against=0.3) == "0.30000000000000004"
    assert format_value(0.3, "", against=0.1 + 0.2) == "0.3"


def test_seconds_under_one_are_said_in_ms_us_and_ns() -> None:
    """As bytes take binary prefixes: "9.6 µs, below 10 µs", not "0.00001 s" for both."""
    assert format_value(9.6e-6, "seconds", against=1e-5) == "9.6 µs"
    assert format_value(1e-5, "seconds", against=9.6e-6) == "10 µs"
    assert format_value(0.0123, "seconds") == "12.3 ms"
    assert format_value(3.1e-7, "seconds") == "310 ns"
    assert format_value(2.5, "seconds") == "2.5 s"
    assert format_value(0.0, "seconds") == "0 s"
    assert format_value(0.99996, "seconds") == "1 s"  # rounded up a prefix: not "1000 ms"
    assert format_value(0.99996, "seconds", against=1.0) == "999.96 ms"


def test_numbers_compared_together_print_apart_at_every_magnitude() -> None:
    assert format_metric_apart("x_ratio", (4.9e-5, 4.95e-5, 5e-5, 9.5e-6)) == [
        "4.9e-5", "4.95e-5", "5e-5", "9.5e-6",
    ]  # fmt: skip
    assert format_metric_apart("x_seconds", (1.00001e-6, 1e-6, 1e-6)) == [
        "1.00001 µs", "1 µs", "1 µs",
    ]  # fmt: skip


def test_a_tiny_error_ratio_over_its_level_says_so() -> None:
    """Through the pipeline: network_error_rate = 0.00001 said "is 0.00001, above the warn
    level 0.00001"."""
    rule = ThresholdRule("network_error_ratio", warn=1e-5, critical=5e-5)
    pipeline = Pipeline(Store(8), [ThresholdAnalyzer([rule])])
    key = SeriesKey.of("network_error_ratio", interface="eth0")
    (alert,) = pipeline.process("net", 0.0, Samples((key,), np.array([1.04e-5])))
    assert alert.message == (
        "network_error_ratio interface=eth0 is 1.04e-5, above the warn level 1e-5"
    )


def test_an_anomaly_prints_its_level_and_the_usual_one_apart() -> None:
    """z-score's and EMA's message printed the stretch's level and its usual level each on
    its own: "has been 50.4% ..., 0.0 points above its usual 50.4%" (a second reader's
    case, on a series whose floor lets a small change through)."""
    from analyzers.base import Step
    from analyzers.families import Family
    from analyzers.zscore import anomaly_message

    step = Step(0, 0, 1, deviation=0.034, sigmas=5.2, since_secs=300.0, level=50.444)
    text = anomaly_message("cpu_usage_percent", "", step, Family("cpu_*", "%", 0.0, "up"), "zscore")
    assert "has been 50.44% on average for 5 min, 0.034 points above its usual 50.41%" in text
