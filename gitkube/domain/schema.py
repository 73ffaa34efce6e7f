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
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from gitkube.domain.names import gce_name_problem, label_key_problem, label_value_problem

# jsonschema takes ~60 ms to import: the first validation imports it, so that a
# render that validates nothing new (render/incremental.py) never does.
if TYPE_CHECKING:
    import jsonschema


def _is_integer(_checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def absolute_path_problem(value: str) -> str | None:
    if not value.startswith("/") or value == "/":
        return "must be an absolute path below /"
    if "\0" in value or posixpath.normpath(value) != value or value.startswith("//"):
        return "must be a normalised absolute path (no '.', '..', '//' or trailing '/')"
    return None


_FORMATS: dict[str, Callable[[str], str | None]] = {
    "kubernetes-label-key": label_key_problem,
    "kubernetes-label-value": label_value_problem,
    "absolute-normalized-path": absolute_path_problem,
    "gce-name": gce_name_problem,
}


@cache
def _strict() -> tuple[Any, jsonschema.FormatChecker]:
    """The strict validator class and gitkube's format checker, made once."""
    import jsonschema

    checker = jsonschema.FormatChecker(formats=())
    for name, problem in _FORMATS.items():
        _format(checker, name, problem)
    validator_class = jsonschema.validators.extend(
        jsonschema.Draft202012Validator,
        type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
    )
    return validator_class, checker


def _format(
    checker: jsonschema.FormatChecker, name: str, problem: Callable[[str], str | None]
) -> None:
    @checker.checks(name, raises=ValueError)
    def check(value: object) -> bool:
        if not isinstance(value, str):
            return True  # "format" only constrains strings; "type" says the rest
        found = problem(value)
        if found is not None:
            raise ValueError(found)
        return True


def strict_validator(schema: Mapping[str, Any]) -> jsonschema.protocols.Validator:
    """A draft 2020-12 validator with strict integers and gitkube's formats asserted."""
    validator_class, checker = _strict()
    validator: jsonschema.protocols.Validator = validator_class(schema, format_checker=checker)
    return validator


class SchemaCheck:
    """A schema, its validator made on first use (and jsonschema imported then)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self._validator: jsonschema.protocols.Validator | None = None

    def first_error(self, value: Any) -> jsonschema.ValidationError | None:
        """The error of ``value`` that best says what is wrong, or None when it is valid."""
        from jsonschema.exceptions import best_match

        if self._validator is None:
            self._validator = strict_validator(self.schema)
        error: jsonschema.ValidationError | None = best_match(self._validator.iter_errors(value))
        return error


def first_error(schema: Mapping[str, Any], value: Any) -> jsonschema.ValidationError | None:
    """The error of ``value`` against ``schema`` that best says what is wrong, or None."""
    return SchemaCheck(schema).first_error(value)
