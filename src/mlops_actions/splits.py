"""Traffic splits, kept valid as Azure ML requires: live traffic sums to 0 or 100; mirror traffic goes to
one deployment, at most 50%, and never to one that takes live traffic
(learn.microsoft.com/azure/machine-learning/how-to-safely-rollout-online-endpoints)."""

from __future__ import annotations

import re

from mlops_actions import backends
from mlops_actions.inputs import Inputs

MAX_MIRROR = 50
SHARE = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9-]*)=(?P<share>\d{1,3})$")


def parse(inputs: Inputs, name: str) -> dict[str, int]:
    """'green' -> {green: 100}; 'blue=90,green=10' -> {blue: 90, green: 10}, which must add up to 100."""
    text = inputs[name].replace(" ", "")
    if backends.ONLINE_NAME.match(text):
        return {text: 100}
    split = {}
    for part in filter(None, text.split(",")):
        match = SHARE.match(part)
        if not match or int(match["share"]) > 100:
            raise inputs.error(name, f"{part!r} is not name=percent", "write e.g. 'blue=90,green=10', or one "
                               "deployment name for 100%")
        split[match["name"]] = int(match["share"])
    if sum(split.values()) != 100:
        raise inputs.error(name, f"the shares add up to {sum(split.values())}, not 100",
                           "make the percentages add up to 100")
    return split


def parse_mirror(inputs: Inputs, name: str) -> dict[str, int] | None:
    """'green=10' -> {green: 10}; 'off' -> {} (no mirroring); empty -> None (unchanged)."""
    text = inputs[name].replace(" ", "")
    if not text:
        return None
    if text == "off":
        return {}
    match = SHARE.match(text)
    if not match or not 0 < int(match["share"]) <= MAX_MIRROR:
        raise inputs.error(name, "not one name=percent with 1-50%", "mirror to one deployment, e.g. 'green=10' "
                           "(Azure ML mirrors at most 50%), or 'off'")
    return {match["name"]: int(match["share"])}


def describe(split: dict[str, int]) -> str:
    return ",".join(f"{name}={share}" for name, share in split.items())


def rescaled(split: dict[str, int]) -> dict[str, int]:
    """The shares scaled to add up to 100 (largest remainder first); {} (traffic off) when none has any."""
    total = sum(split.values())
    if total <= 0:
        return {}
    exact = {name: share * 100 / total for name, share in split.items()}
    result = {name: int(value) for name, value in exact.items()}
    for name in sorted(exact, key=lambda n: exact[n] - result[n], reverse=True)[:100 - sum(result.values())]:
        result[name] += 1
    return {name: share for name, share in result.items() if share}


def mirror_beside(traffic: dict[str, int], mirror: dict[str, int]) -> dict[str, int]:
    """The mirror traffic that can stay beside `traffic`: none to a deployment that takes live traffic."""
    return {name: share for name, share in mirror.items() if share and not traffic.get(name)}
