"""Routes, parameters and payload checks derived from Google's discovery document.

The fake serves nothing the discovery document for compute v1 does not
describe: every request is matched to a discovery method (path template and
HTTP method), its query parameters and body are checked against the method's
parameters and request schema, and the error for a bad payload is the one the
API front end gives (unknown field, wrong type, bad enum value, missing
required field).
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError

API_PREFIX = "/compute/v1/"

# Parameters every Google API accepts, plus the ``$alt`` that the generated
# REST clients send (``$alt=json;enum-encoding=int``).
_SYSTEM_QUERY = {"$alt", "alt", "prettyPrint", "fields", "key", "quotaUser", "userIp"}
_SCOPE_PARAMS = {"project", "region", "zone"}


@functools.cache
def load_document() -> dict[str, Any]:
    """The compute v1 discovery document shipped in google-api-python-client."""
    try:
        files = importlib.resources.files("googleapiclient")
    except ModuleNotFoundError as exc:  # pragma: no cover - packaging error
        raise RuntimeError(
            "the fake Compute Engine server needs google-api-python-client "
            "(install gitkube[testing])"
        ) from exc
    doc = files / "discovery_cache" / "documents" / "compute.v1.json"
    data: dict[str, Any] = json.loads(doc.read_text(encoding="utf-8"))
    return data


def snake(name: str) -> str:
    """Proto field name of a JSON field, as the API front end spells it in errors."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


@dataclass(frozen=True)
class Method:
    """One discovery method and what the fake needs to know about it."""

    id: str
    http_method: str
    flat_path: str
    parameters: Mapping[str, Any]
    request_ref: str | None
    response_ref: str | None
    pattern: re.Pattern[str] = field(compare=False)
    literal_segments: int

    @property
    def resource(self) -> str:
        """Discovery resource (``addresses``, ``regionBackendServices``)."""
        return self.id.split(".")[1]

    @property
    def verb(self) -> str:
        return self.id.split(".")[-1]

    @property
    def collection(self) -> str:
        """The URL segment naming the collection, e.g. ``backendServices``.

        Regional and global variants share it (``backendServices`` under a
        region or under ``global``); the scope tells them apart.
        """
        segments = self.flat_path.split("/")
        params = [i for i, s in enumerate(segments) if s.startswith("{")]
        named = [i for i in params if segments[i].strip("{}+") not in _SCOPE_PARAMS]
        if named:
            return segments[named[-1] - 1]
        return segments[-1]

    @property
    def name_param(self) -> str | None:
        """The path parameter naming the resource a method acts on, if any."""
        names = re.findall(r"\{\+?(\w+)\}", self.flat_path)
        rest = [n for n in names if n not in _SCOPE_PARAMS]
        return rest[-1] if rest else None


@dataclass(frozen=True)
class Problem:
    """A payload check that failed: HTTP 400 with this message and reason."""

    message: str
    reason: str

    def error(self) -> ApiError:
        return ApiError(400, self.message, self.reason, with_status=self.reason == "invalid")


class Discovery:
    """Look-ups over the compute v1 discovery document."""

    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self.doc = document if document is not None else load_document()
        self.schemas: dict[str, Any] = self.doc["schemas"]
        self.methods: dict[str, Method] = {}
        by_verb: dict[str, list[Method]] = {}
        for resource in self.doc["resources"].values():
            for raw in resource.get("methods", {}).values():
                method = _method(raw)
                self.methods[method.id] = method
                by_verb.setdefault(method.http_method, []).append(method)
        # A literal segment beats a parameter (``disks/bulkInsert`` before
        # ``disks/{disk}``), as in the API's own router.
        self._routes = {
            verb: sorted(ms, key=lambda m: (-m.literal_segments, m.flat_path))
            for verb, ms in by_verb.items()
        }

    def route(self, http_method: str, path: str) -> tuple[Method, dict[str, str]] | None:
        """The method and path parameters for a request path (``/compute/v1/...``)."""
        if not path.startswith(API_PREFIX):
            return None
        rest = path[len(API_PREFIX) :]
        for method in self._routes.get(http_method.upper(), []):
            match = method.pattern.fullmatch(rest)
            if match:
                return method, match.groupdict()
        return None

    def kind(self, schema_ref: str) -> str | None:
        prop = self.schemas.get(schema_ref, {}).get("properties", {}).get("kind", {})
        default = prop.get("default")
        return str(default) if default is not None else None

    def has_property(self, schema_ref: str, name: str) -> bool:
        return name in self.schemas.get(schema_ref, {}).get("properties", {})

    def check_params(
        self, method: Method, path: Mapping[str, str], query: Mapping[str, str]
    ) -> Problem | None:
        """The first problem with path or query parameters, or None."""
        for name, value in path.items():
            pattern = method.parameters.get(name, {}).get("pattern")
            if pattern and not re.fullmatch(pattern, value):
                return Problem(
                    f"Invalid value for field '{name}': '{value}'. "
                    f"Must be a match of regex '{pattern}'",
                    "invalid",
                )
        return self.check_query(method, query)

    def check_query(self, method: Method, query: Mapping[str, str]) -> Problem | None:
        params = method.parameters
        for name, value in query.items():
            spec = params.get(name)
            if spec is None or spec.get("location") != "query":
                if name in _SYSTEM_QUERY:
                    continue
                return Problem(
                    f'Invalid JSON payload received. Unknown name "{name}": Cannot bind '
                    f"query parameter. Field '{name}' could not be found in request message.",
                    "invalid",
                )
            problem = _check_scalar(spec, value, name, from_query=True)
            if problem:
                return problem
        for name, spec in params.items():
            if spec.get("location") == "query" and spec.get("required") and name not in query:
                return Problem(f"Required field '{name}' not specified", "required")
        return None

    def check_body(self, method: Method, body: Any) -> Problem | None:
        """The first problem with a request body, or None when it is acceptable."""
        if method.request_ref is None:
            return None
        if body is None:
            return Problem("Required field 'resource' not specified", "required")
        return self._check({"$ref": method.request_ref}, body, "resource", method.id)

    def _check(
        self, spec: Mapping[str, Any], value: Any, where: str, method_id: str
    ) -> Problem | None:
        if "$ref" in spec:
            spec = self.schemas[spec["$ref"]]
        kind = spec.get("type")
        if kind == "object":
            if not isinstance(value, dict):
                return _wrong_type(where, value, "TYPE_MESSAGE")
            props: Mapping[str, Any] = spec.get("properties", {})
            extra = spec.get("additionalProperties")
            for key, item in value.items():
                if key in props:
                    sub = props[key]
                elif extra is not None:
                    sub = extra
                else:
                    return Problem(
                        f'Invalid JSON payload received. Unknown name "{key}" at '
                        f"'{where}': Cannot find field.",
                        "invalid",
                    )
                # An explicit JSON null means "unset" to the API front end.
                if item is None:
                    continue
                child = f"{where}.{snake(key)}" if key in props else f"{where}[{key}]"
                problem = self._check(sub, item, child, method_id)
                if problem:
                    return problem
            for key, sub in props.items():
                wanted = sub.get("annotations", {}).get("required", [])
                if method_id in wanted and value.get(key) in (None, ""):
                    return Problem(
                        f"Required field '{where}.{snake(key)}' not specified", "required"
                    )
            return None
        if kind == "array":
            if not isinstance(value, list):
                return _wrong_type(
                    where, value, "TYPE_MESSAGE" if "$ref" in spec.get("items", {}) else "list"
                )
            for i, item in enumerate(value):
                problem = self._check(spec.get("items", {}), item, f"{where}[{i}]", method_id)
                if problem:
                    return problem
            return None
        problem = _check_scalar(spec, value, where, from_query=False)
        if problem is None and where == "resource.name" and isinstance(value, str):
            pattern = spec.get("pattern")
            if pattern and not re.fullmatch(pattern, value):
                return Problem(
                    f"Invalid value for field 'resource.name': '{value}'. "
                    f"Must be a match of regex '(?:{pattern})'",
                    "invalid",
                )
        return problem


def _wrong_type(where: str, value: Any, proto_type: str) -> Problem:
    shown = json.dumps(value)
    if proto_type == "TYPE_MESSAGE" or proto_type == "list":
        return Problem(
            f"Invalid JSON payload received. Invalid value at '{where}', "
            f"expected {'an object' if proto_type == 'TYPE_MESSAGE' else 'a list'}: {shown}",
            "invalid",
        )
    return Problem(f"Invalid value at '{where}' ({proto_type}), {shown}", "invalid")


_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}


def _check_scalar(
    spec: Mapping[str, Any], value: Any, where: str, from_query: bool
) -> Problem | None:
    kind = spec.get("type")
    fmt = spec.get("format", "")
    if kind == "any" or kind is None:
        return None
    if kind == "boolean":
        ok = value in ("true", "false") if from_query else isinstance(value, bool)
        return None if ok else _wrong_type(where, value, "TYPE_BOOL")
    if kind == "integer" or (kind == "string" and fmt in ("int64", "uint64")):
        # proto3 JSON takes integers as numbers or as decimal strings.
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            number = int(value)
        low, high = _INT_RANGES.get(fmt, _INT_RANGES["int64"])
        if number is None or not low <= number <= high:
            return _wrong_type(where, value, f"TYPE_{fmt.upper() or 'INT32'}")
        return None
    if kind == "number":
        ok = (isinstance(value, int | float) and not isinstance(value, bool)) or (
            isinstance(value, str)
            and re.fullmatch(r"-?\d+(\.\d*)?([eE][-+]?\d+)?", value) is not None
        )
        return None if ok else _wrong_type(where, value, "TYPE_DOUBLE")
    if kind == "string":
        if not isinstance(value, str):
            return _wrong_type(where, value, "TYPE_STRING")
        enum = spec.get("enum")
        if enum and value not in enum:
            return Problem(f"Invalid value at '{where}' (TYPE_ENUM), \"{value}\"", "invalid")
        return None
    return None


def _method(raw: Mapping[str, Any]) -> Method:
    flat = raw.get("flatPath", raw["path"])
    regex = ""
    literal = 0
    for i, segment in enumerate(flat.split("/")):
        regex += "/" if i else ""
        found = re.fullmatch(r"\{(\+?)(\w+)\}", segment)
        if found:
            regex += f"(?P<{found.group(2)}>{'.+' if found.group(1) else '[^/]+'})"
        else:
            regex += re.escape(segment)
            literal += 1
    return Method(
        id=raw["id"],
        http_method=raw["httpMethod"],
        flat_path=flat,
        parameters=raw.get("parameters", {}),
        request_ref=raw.get("request", {}).get("$ref"),
        response_ref=raw.get("response", {}).get("$ref"),
        pattern=re.compile(regex),
        literal_segments=literal,
    )
