"""Request bodies checked as Azure checks them: against the REST models azure-ai-ml generates from Azure's
REST spec (azure.ai.ml._restclient.arm_ml_service.models, generated from the machinelearningservices
TypeSpec in Azure/azure-rest-api-specs, api-version 2025-12-01).

A property the spec marks required (a non-Optional type) must be present; a property the model does not
have is refused; every value must be readable as the type the spec gives; a discriminated model (jobType,
endpointComputeType, ...) must name a known kind. How strictly: as the service's JSON reader (Newtonsoft
Json.NET, whose messages the service's errors carry: recorded, a job output with an `assetVersion` member is
a 400 "Could not find member 'assetVersion' on object of type 'UriFolderJobOutput'. Path 'assetVersion',
line 1, position 604.", command_job/...test_command_job_register_output.json) reads JSON: unknown members
refused, a number or a boolean read as a string, a numeric string as a number, "true"/"false" as a boolean.
The spec is 2025-12-01 (SPEC_VERSION); the SDK calls older api-versions, whose models differ in places. A
request at an older version may also use what OLDER_VERSIONS lists: members and enum values those versions
define and the 2025 spec dropped or renamed (the 2023-04/06-preview Schedule models: a monitoring signal's
`mode`, MonitorDefinition's `alertNotificationSetting`, MonitoringInputDataType `Trailing` with its
`windowSize` and `windowOffset`; as hashicorp/pandora's definitions generated from those api-versions show,
e.g. MachineLearningServices v2023_04_01_preview Schedule MonitorDefinitionModel). An enum value is compared
without case, as Json.NET reads enums.
Read-only properties are accepted and ignored, as ARM's resource provider contract says
(Azure/azure-resource-manager-rpc v1.0/resource-api-reference.md: read-only properties in a PUT are ignored).
"""

from __future__ import annotations

import datetime
import enum
import functools
import re
import sys
import types
import typing

from azure.ai.ml._restclient.arm_ml_service import models
from azure.ai.ml._restclient.arm_ml_service._utils.model_base import Model, _RestField

SPEC_VERSION = "2025-12-01"  # the api-version azure-ai-ml's generated models describe
_NAMESPACE = {**vars(sys.modules[models._models.__name__]), "_models": models}
_WRITABLE = {"create", "update"}
# ISO 8601 durations as the spec's `duration` format writes them (PT5S, P1D, PT0.5S)
_DURATION = re.compile(r"^-?P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
                       r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$")


# what older api-versions have that the spec does not (see the module's docstring), by model or enum name
OLDER_VERSIONS = {
    "members": {"MonitoringSignalBase": {"mode"}, "MonitorDefinition": {"alertNotificationSetting"},
                "MonitoringInputDataBase": {"windowSize", "windowOffset"}},
    "values": {"MonitoringInputDataType": {"trailing"}},
    "kinds": {"MonitoringInputDataBase": {"trailing"}},  # inputDataType, its discriminator
}


def is_class(hint) -> bool:
    """A class, not a parametrised generic: on Python 3.10 `list[str]` passes isinstance(..., type), then
    issubclass refuses it."""
    return isinstance(hint, type) and not isinstance(hint, types.GenericAlias)


def _older_members(cls) -> set[str]:
    return {member for klass in cls.__mro__ for member in OLDER_VERSIONS["members"].get(klass.__name__, ())}


def _older_enum(enums) -> set[str]:
    return {value for e in enums for value in OLDER_VERSIONS["values"].get(e.__name__, ())}


def _older_kinds(cls) -> set[str]:
    """The kinds an older api-version allows for a discriminated model `cls`."""
    return {kind for klass in cls.__mro__ for kind in OLDER_VERSIONS["kinds"].get(klass.__name__, ())}


def _resolved(hint):
    """`hint` with the names left as strings inside builtin generics evaluated: Python 3.10's get_type_hints
    leaves dict[str, '_models.Collection'] as it is (3.11 resolves it)."""
    if isinstance(hint, str):
        return eval(hint, _NAMESPACE)  # noqa: S307 - the SDK's own annotations
    if isinstance(hint, types.GenericAlias):
        return types.GenericAlias(typing.get_origin(hint), tuple(_resolved(a) for a in typing.get_args(hint)))
    return hint


@functools.cache
def _fields(cls) -> tuple[tuple[str, object, bool, bool], ...]:
    """(JSON name, type, required, writable) of each property of the model."""
    hints = typing.get_type_hints(cls, globalns=_NAMESPACE, localns=_NAMESPACE)
    found: dict[str, _RestField] = {}
    for klass in reversed(cls.__mro__):
        found.update({attr: value for attr, value in vars(klass).items() if isinstance(value, _RestField)})
    result = []
    for attr, field in found.items():
        hint = _resolved(hints.get(attr, typing.Any))
        writable = field._visibility is None or bool(_WRITABLE & set(field._visibility))
        result.append((field._rest_name_input or attr, hint, type(None) not in typing.get_args(hint), writable))
    return tuple(result)


def _discriminated(cls, value: dict, path: str, problems: list[str], older: bool = False):
    """The subclass a discriminated model's value names (jobType: Command -> CommandJob); at an older
    api-version, a kind the spec no longer names is checked as the base model."""
    while getattr(cls, "__mapping__", None):
        field = next((f for f in vars(cls).values() if isinstance(f, _RestField) and f._is_discriminator), None)
        if field is None:
            break
        name = field._rest_name_input
        kind = value.get(name)
        mapping = {str(key).lower(): sub for key, sub in cls.__mapping__.items()}
        if kind is None:
            problems.append(f"{path}.{name}: required")
            return None
        if older and isinstance(kind, str) and kind.lower() in _older_kinds(cls):
            break  # a kind an older api-version has: checked as the base model
        if not isinstance(kind, str) or kind.lower() not in mapping:
            problems.append(f"{path}.{name}: '{kind}' is not one of {sorted(cls.__mapping__)}")
            return None
        if mapping[kind.lower()] is cls:
            break
        cls = mapping[kind.lower()]
    return cls


def _check(hint, value, path: str, problems: list[str], older: bool) -> None:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any or hint is object:
        return
    if value is None:
        return  # an explicit null is as good as absent; required properties are checked by presence
    if origin is typing.Union:
        choices = [a for a in args if a is not type(None)]
        enums = [a for a in choices if is_class(a) and issubclass(a, enum.Enum)]
        if enums and str in choices:  # an extensible enum: one of the known values
            known = {str(m.value).lower() for e in enums for m in e}
            if not isinstance(value, str):
                problems.append(f"{path}: expected a string, got {type(value).__name__}")
            elif value.lower() not in known | (_older_enum(enums) if older else set()):
                problems.append(f"{path}: '{value}' is not one of {sorted(str(m.value) for e in enums for m in e)}")
            return
        attempts = []
        for choice in choices:
            attempt: list[str] = []
            _check(choice, value, path, attempt, older)
            if not attempt:
                return
            attempts.append(attempt)
        problems.extend(min(attempts, key=len))
        return
    if origin is typing.Literal:
        allowed = {str(getattr(a, "value", a)).lower() for a in args}
        if str(value).lower() not in allowed:
            problems.append(f"{path}: '{value}' is not one of {sorted(allowed)}")
        return
    if origin in (list, typing.List):
        if not isinstance(value, list):
            problems.append(f"{path}: expected an array, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _check(args[0] if args else typing.Any, item, f"{path}[{i}]", problems, older)
        return
    if origin in (dict, typing.Dict):
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object, got {type(value).__name__}")
            return
        for key, item in value.items():
            _check(args[1] if len(args) == 2 else typing.Any, item, f"{path}.{key}", problems, older)
        return
    if is_class(hint) and issubclass(hint, enum.Enum):
        _check(typing.Union[str, hint], value, path, problems, older)
        return
    if is_class(hint) and issubclass(hint, Model):
        problems.extend(validate(hint, value, path, older))
        return
    if hint in (str, int, float, bool):
        if not _readable(hint, value):
            problems.append(f"{path}: could not read {json_text(value)} as {_TYPE_NAMES[hint]}")
        return
    if hint is datetime.datetime:
        try:
            datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            problems.append(f"{path}: '{value}' is not an ISO 8601 date-time")
        return
    if hint is datetime.timedelta:
        if not isinstance(value, str) or not _DURATION.match(value):
            problems.append(f"{path}: '{value}' is not an ISO 8601 duration (e.g. PT5S)")
        return
    if hint is bytes:
        if not isinstance(value, str):
            problems.append(f"{path}: expected base64 text")


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}


def json_text(value) -> str:
    import json

    return json.dumps(value)[:80]


def _readable(hint, value) -> bool:
    """Whether Json.NET reads `value` as a `hint`: primitives convert, objects and arrays do not."""
    if isinstance(value, (dict, list)):
        return False
    if hint is str:
        return True
    if hint is bool:
        return isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false"))
    if isinstance(value, bool):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return hint is float or number.is_integer()


def validate(cls, value, path: str = "body", older: bool = False) -> list[str]:
    """What is wrong with `value` as a `cls` (a REST model class); empty when nothing is. `older`: the request
    is at an older api-version than the spec, whose known differences are accepted."""
    if not isinstance(value, dict):
        return [f"{path}: expected an object, got {type(value).__name__}"]
    problems: list[str] = []
    cls = _discriminated(cls, value, path, problems, older)
    if cls is None:
        return problems
    known = {name for name, *_ in _fields(cls)} | (_older_members(cls) if older else set())
    problems.extend(f"{path}: could not find member '{name}' on object of type '{cls.__name__}'"
                    for name in value if name not in known)
    for name, hint, required, writable in _fields(cls):
        if not writable:
            continue
        if name not in value or value[name] is None:
            if required:
                problems.append(f"{path}.{name}: required")
            continue
        _check(hint, value[name], f"{path}.{name}", problems, older)
    return problems


def _canonical_value(hint, value):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        return None
    if origin is typing.Union:
        enums = [a for a in args if is_class(a) and issubclass(a, enum.Enum)]
        if enums and isinstance(value, str):
            known = {str(m.value).lower(): str(m.value) for e in enums for m in e}
            return known.get(value.lower(), value)
        models = [a for a in args if is_class(a) and issubclass(a, Model)]
        return canonical(models[0], value) if models and isinstance(value, dict) else value
    if origin in (list, typing.List) and isinstance(value, list):
        return [_canonical_value(args[0] if args else typing.Any, item) for item in value]
    if origin in (dict, typing.Dict) and isinstance(value, dict):
        return {k: _canonical_value(args[1] if len(args) == 2 else typing.Any, v) for k, v in value.items()}
    if is_class(hint) and issubclass(hint, enum.Enum):
        return _canonical_value(typing.Union[str, hint], value)
    if is_class(hint) and issubclass(hint, Model) and isinstance(value, dict):
        return canonical(hint, value)
    return value


def canonical(cls, value: dict) -> dict:
    """`value` (a valid `cls`) with every enum written as the spec writes it ("enabled" -> "Enabled"): the
    service reads enums without case and answers them in its own."""
    problems: list[str] = []
    cls = _discriminated(cls, value, "body", problems) or cls
    result = dict(value)
    for name, hint, *_ in _fields(cls):
        if name in result:
            result[name] = _canonical_value(hint, result[name])
    return result
