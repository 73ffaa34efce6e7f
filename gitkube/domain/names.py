"""Names as the API servers check them, and the file paths built from them.

Everything here answers "would the Kubernetes API server (or Compute Engine)
accept this name?" *before* anything is written, so a bad name is one error
naming the file instead of a half-applied sync, and so that no rendered file
path can be steered by a name (``metadata.name: ../../x``). The rules are
those of Kubernetes' apimachinery validation (``IsDNS1123Label``,
``IsDNS1123Subdomain``, ``ValidatePathSegmentName``, ``IsQualifiedName``,
``IsValidLabelValue``) and of the Compute API's resource-name pattern.

Each check returns a message (``None`` when the value is fine) so that the
core can raise it as a :class:`GitkubeError` and plugins can report it as a
``Problem``; docs/names.md states the same rules for users.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from gitkube.primitives.errors import printable

# --- Kubernetes -----------------------------------------------------------------

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BAD_SEGMENT = re.compile(r"(^|/)\.{0,2}(/|$)")  # an empty, "." or ".." path segment
LABEL_NAME_MAX = 63
LABEL_VALUE_MAX = 63

# Kinds whose name the API server checks as a DNS-1123 label (at most 63
# characters, no dots): the name becomes a DNS label (a Service's cluster DNS
# name, a namespace's part of every name below it, a StatefulSet's pods'
# host names). tests/controlplane/test_name_rules.py checks these against
# a real API server.
_LABEL_NAMED = frozenset({("", "Namespace"), ("", "Service"), ("apps", "StatefulSet")})

# Built-in kinds the API server checks with path-segment rules only: RBAC
# names such as "system:metrics-server", ClusterTrustBundles named
# "<signer>:<suffix>", IPAddress objects named by an IPv6 address.
_PATH_SEGMENT_NAMED = frozenset(
    {
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "RoleBinding"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("certificates.k8s.io", "ClusterTrustBundle"),
        ("networking.k8s.io", "IPAddress"),
    }
)


# Kinds whose names the API server limits further, because the name is put
# into a label value (a Job's pods get job-name=<name>) or gets a suffix
# (a CronJob's Jobs are <name>-<11 digits>).
_NAME_MAX = {("batch", "Job"): 63, ("batch", "CronJob"): 52}


def dns1123_label_problem(value: str) -> str | None:
    if len(value) > DNS1123_LABEL_MAX:
        return f"must be at most {DNS1123_LABEL_MAX} characters (a DNS-1123 label)"
    if not _DNS1123_LABEL.fullmatch(value):
        return (
            "must be a DNS-1123 label: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return None


def dns1123_subdomain_problem(value: str) -> str | None:
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        return f"must be at most {DNS1123_SUBDOMAIN_MAX} characters (a DNS-1123 subdomain)"
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        return (
            "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return None


def path_segment_problem(value: str) -> str | None:
    """apimachinery's ValidatePathSegmentName, plus what no file name may hold.

    The API server puts every name into a URL path, so "." and ".." and
    names holding "/" or "%" are refused for every kind. gitkube also writes
    each name into a file name, so control characters (a newline, NUL) and
    text that is not valid Unicode are refused too.
    """
    if value in (".", ".."):
        return f'may not be "{value}"'
    for bad in ("/", "%"):
        if bad in value:
            return f'may not contain "{bad}"'
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        return f"must be at most {DNS1123_SUBDOMAIN_MAX} characters"
    if _CONTROL.search(value):
        return "may not contain control characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    return None


def object_name_problem(group: str, kind: str, name: str, *, builtin: bool) -> str | None:
    """What the API server would say about ``metadata.name`` for this kind, or None.

    ``builtin``: the kind is one of Kubernetes' own (see :mod:`scopes`);
    custom and unknown kinds get path-segment rules only, since their
    server's rules are not known here.
    """
    problem = path_segment_problem(name)
    if problem is not None or not builtin or (group, kind) in _PATH_SEGMENT_NAMED:
        return problem
    if (group, kind) in _LABEL_NAMED:
        return dns1123_label_problem(name)
    limit = _NAME_MAX.get((group, kind))
    if limit is not None and len(name) > limit:
        return f"must be at most {limit} characters for a {kind}"
    return dns1123_subdomain_problem(name)


def label_key_problem(key: str) -> str | None:
    """IsQualifiedName: an optional DNS-subdomain prefix and "/", then a name of at most 63."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix:
            return "has an empty prefix before '/'"
        problem = dns1123_subdomain_problem(prefix)
        if problem is not None:
            return f"prefix {problem}"
    if not name:
        return "has an empty name"
    if len(name) > LABEL_NAME_MAX:
        return f"name part must be at most {LABEL_NAME_MAX} characters"
    if not _QUALIFIED_NAME.fullmatch(name):
        return (
            "name part must consist of letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def label_value_problem(value: str) -> str | None:
    """IsValidLabelValue: empty, or at most 63 of the qualified-name characters."""
    if value == "":
        return None
    if len(value) > LABEL_VALUE_MAX:
        return f"must be at most {LABEL_VALUE_MAX} characters"
    if not _QUALIFIED_NAME.fullmatch(value):
        return (
            "must be empty or consist of letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def labels_problem(labels: Any) -> str | None:
    """``metadata.labels`` as the API server checks it (a map of valid keys to valid values)."""
    return _string_map_problem("label", labels, label_value_problem)


def annotations_problem(annotations: Any) -> str | None:
    """``metadata.annotations``: valid keys, string values."""
    return _string_map_problem("annotation", annotations, lambda _value: None)


def _string_map_problem(
    what: str, mapping: Any, value_problem: Callable[[str], str | None]
) -> str | None:
    """Labels and annotations alike: qualified-name keys, string values (checked by ``value_problem``)."""
    if not isinstance(mapping, Mapping):
        return f"{what}s must be a mapping, not a {type(mapping).__name__}"
    for key, value in mapping.items():
        if not isinstance(key, str):
            return f"{what} key {key!r} must be a string"
        problem = label_key_problem(key)
        if problem is not None:
            return f'{what} key "{key}" {problem}'
        if not isinstance(value, str):
            return f'{what} "{key}" must have a string value, not {value!r} (quote it)'
        problem = value_problem(value)
        if problem is not None:
            return f'{what} "{key}" value "{value}" {problem}'
    return None


# --- Compute Engine -------------------------------------------------------------

# Compute's resource-name pattern (RFC 1035): what it accepts as the name of
# an address, disk, firewall, forwarding rule, target pool or instance.
GCE_NAME_PATTERN = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
_GCE_NAME = re.compile(GCE_NAME_PATTERN)


def gce_name_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, not {value!r}"
    if not _GCE_NAME.fullmatch(value):
        return (
            f'"{printable(value)}" is not a Compute Engine name: 1-63 lower-case letters, '
            "digits and '-', starting with a letter and not ending with '-'"
        )
    return None


def gce_references(spec: Any, path: str = "spec") -> Iterator[tuple[str, Any]]:
    """Each ``<x>Ref.name`` under a Config Connector spec: names that go into API URLs."""
    if isinstance(spec, Mapping):
        for key, value in spec.items():
            where = f"{path}.{key}"
            if isinstance(key, str) and key.endswith("Ref") and isinstance(value, Mapping):
                if "name" in value:
                    yield f"{where}.name", value["name"]
            else:
                yield from gce_references(value, where)
    elif isinstance(spec, list):
        for index, item in enumerate(spec):
            yield from gce_references(item, f"{path}[{index}]")


# --- app directories and output paths -------------------------------------------

# One path segment of an app directory: lower-case, digits, '-', '_' and '.',
# starting and ending with a letter or digit. Conservative on purpose: the
# segments become rendered paths, ApplySet annotations and label values.
_APP_SEGMENT = re.compile(r"[a-z0-9]([-a-z0-9_.]*[a-z0-9])?")
APP_SEGMENT_MAX = 63


def app_path_problem(path: str) -> str | None:
    for segment in path.split("/"):
        if len(segment) > APP_SEGMENT_MAX or not _APP_SEGMENT.fullmatch(segment):
            return (
                f'app directory "{printable(segment)}" is not a valid app path segment: '
                "use lower-case letters, digits, '-', '_' and '.', starting and ending "
                f"with a letter or digit, at most {APP_SEGMENT_MAX} characters "
                "(see docs/names.md)"
            )
    return None


# Longest file name (in bytes) most file systems take; longer stems are
# shortened with a hash of the full stem, so they stay unique.
MAX_FILE_NAME_BYTES = 255


def file_name(stem: str, suffix: str = ".yaml") -> str:
    """``stem + suffix``, shortened with a digest when too long for a file system."""
    name = stem + suffix
    if len(name.encode()) <= MAX_FILE_NAME_BYTES:
        return name
    digest = hashlib.sha256(stem.encode()).hexdigest()[:16]
    keep = MAX_FILE_NAME_BYTES - len(suffix) - len(digest) - 1
    short = stem.encode()[:keep].decode("utf-8", "ignore")
    return f"{short}~{digest}{suffix}"


def output_path_problem(path: str) -> str | None:
    """Why ``path`` may not be written under an output directory or a git tree."""
    if not path or path.startswith("/"):
        return "is not a relative path"
    if _BAD_SEGMENT.search(path) or posixpath.normpath(path) != path:
        return 'has an empty, "." or ".." segment'
    if _CONTROL.search(path):
        return "holds a control character"
    if len(path) > MAX_FILE_NAME_BYTES // 4 and any(
        len(segment.encode("utf-8", "surrogatepass")) > MAX_FILE_NAME_BYTES
        for segment in path.split("/")
    ):
        return "has a segment longer than a file system allows"
    return None


def layout_conflicts(paths: Iterable[str]) -> tuple[str, str] | None:
    """A file path that is also a directory of another path, with that path, or None."""
    files = set(paths)
    # Directories already walked up from, none of them or their parents a file:
    # each directory is checked once, not once for every file below it.
    clear: set[str] = set()
    for path in sorted(files):
        parent = posixpath.dirname(path)
        walked = []
        while parent and parent not in clear:
            if parent in files:
                return parent, path
            walked.append(parent)
            parent = posixpath.dirname(parent)
        clear.update(walked)
    return None
