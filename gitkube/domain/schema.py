"""JSON-schema validation of gitkube.yaml and app.yaml, stricter where YAML is loose.

Two things plain jsonschema lets through that a Kubernetes field would not:

* ``80.0`` is an ``integer`` to jsonschema (JSON Schema counts any number
  with a zero fraction), but it is a float after YAML parsing and would be
  rendered as ``80.0`` (``portRange: 80.0-443``, ``size: 10.0Gi``). Here
  an integer is a Python ``int`` and nothing else (``true`` is no integer
  either).
* Kubernetes' string rules are named formats that are always asserted:
  ``kubernetes-label-key``, ``kubernetes-label-value``,
  ``absolute-normalized-path`` (an absolute POSIX path without ``.``/``..``
  segments, empty segments or a trailing ``/``) and ``gce-name``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

import jsonschema

from gitkube.domain.names import gce_name_problem, label_key_problem, label_value_problem


def _is_integer(_checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def absolute_path_problem(value: str) -> str | None:
    if not value.startswith("/") or value == "/":
        return "must be an absolute path below /"
    if "\0" in value or posixpath.normpath(value) != value or value.startswith("//"):
        return "must be a normalised absolute path (no '.', '..', '//' or trailing '/')"
    return None


FORMAT_CHECKER = jsonschema.FormatChecker(formats=())


def _format(name: str, problem: Any) -> None:
    @FORMAT_CHECKER.checks(name, raises=ValueError)
    def check(value: object) -> bool:
        if not isinstance(value, str):
            return True  # "format" only constrains strings; "type" says the rest
        found = problem(value)
        if found is not None:
            raise ValueError(found)
        return True


_format("kubernetes-label-key", label_key_problem)
_format("kubernetes-label-value", label_value_problem)
_format("absolute-normalized-path", absolute_path_problem)
_format("gce-name", gce_name_problem)

_StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


def strict_validator(schema: Mapping[str, Any]) -> jsonschema.protocols.Validator:
    """A draft 2020-12 validator with strict integers and gitkube's formats asserted."""
    validator: jsonschema.protocols.Validator = _StrictValidator(
        schema, format_checker=FORMAT_CHECKER
    )
    return validator
