"""Cron expressions as GitHub's `schedule:` and Azure ML's CronTrigger read them: five fields."""

from __future__ import annotations

import re

_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_WEEKDAYS = "SUN|MON|TUE|WED|THU|FRI|SAT"
# The five fields and their values, as GitHub's docs give them (docs.github.com, "Events that trigger
# workflows", schedule): minute 0-59, hour 0-23, day 1-31, month 1-12 or JAN-DEC, weekday 0-6 or SUN-SAT;
# operators * , - /. Azure ML's CronTrigger reads the same (learn.microsoft.com, how-to-schedule-pipeline-job).
_FIELD = r"(\*|{n}(-{n})?)(/[1-9]\d?)?(,(\*|{n}(-{n})?)(/[1-9]\d?)?)*"  # a step of 0 is none
CRON = re.compile("^" + r"\s+".join(_FIELD.format(n=n) for n in (
    r"([0-5]?\d)", r"([01]?\d|2[0-3])", r"(0?[1-9]|[12]\d|3[01])", rf"(0?[1-9]|1[0-2]|{_MONTHS})",
    rf"([0-6]|{_WEEKDAYS})")) + "$", re.IGNORECASE | re.ASCII)


def valid(expression: str) -> bool:
    return bool(CRON.match(expression.strip()))
