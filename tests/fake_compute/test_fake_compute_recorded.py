"""Replay traffic recorded against the real Compute Engine API and compare the fake's answers.

The logs (``tests/data/gce-recorded/*.http.log``, vendored: see tests/data/README.md)
come from Config Connector's end-to-end tests with names, ids and the project
replaced by placeholders (``${diskID}``). Each recorded request is sent to the
fake with the placeholders bound to concrete names, and the fake must give the
recorded status code, the recorded error reasons, and at least the recorded
top-level fields (values such as ids and timestamps differ by nature).

Placeholders hide that one test can create two resources with the same
placeholder (two disks are both ``${diskID}``). Bindings therefore form a
stack per placeholder: a GET answered 404 starts a new resource (push), a
DELETE ends the newest (pop), and the n-th occurrence of a placeholder in a
request body refers to the n-th live resource. A placeholder first seen in a
GET answered 200 names something that already existed: the default network.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from gitkube.testing.fake_compute import FakeCompute

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORDED = REPO_ROOT / "tests" / "data" / "gce-recorded"
COMPUTE = "https://compute.googleapis.com"
PROJECT = "replay-project"
LOGS = sorted(p.name for p in RECORDED.glob("*.http.log")) if RECORDED.is_dir() else []

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


@dataclass
class Exchange:
    method: str
    url: str
    body: Any
    status: int
    response: Any


def parse_log(path: Path) -> list[Exchange]:
    """Entries separated by ``---``: request line, headers, body; status line, headers, body."""
    exchanges = []
    for chunk in re.split(r"^---$", path.read_text(), flags=re.MULTILINE):
        lines = chunk.strip("\n").splitlines()
        if not lines:
            continue
        method, url = lines[0].split(" ", 1)
        status_at = next(i for i, line in enumerate(lines) if re.match(r"^\d{3} \w", line))
        request = lines[1:status_at]
        blank = request.index("") if "" in request else len(request)
        request_body = "\n".join(request[blank:]).strip()
        response = lines[status_at + 1 :]
        blank = response.index("") if "" in response else len(response)
        response_body = "\n".join(response[blank:]).strip()
        exchanges.append(
            Exchange(
                method=method,
                url=url,
                body=json.loads(request_body) if request_body else None,
                status=int(lines[status_at].split()[0]),
                response=json.loads(response_body) if response_body else None,
            )
        )
    return exchanges


class Replayer:
    def __init__(self, gce: FakeCompute) -> None:
        self.gce = gce
        self.stacks: dict[str, list[str]] = {}
        self.last_operation = ""
        self.counter = 0

    def bind_path(self, exchange: Exchange) -> str:
        path = exchange.url[len(COMPUTE) :]
        target = path.split("?", 1)[0]
        for name in _PLACEHOLDER.findall(target):
            if name in ("projectId", "operationID"):
                continue
            if (
                exchange.method == "GET"
                and exchange.status == 404
                and target.endswith("${" + name + "}")
            ):
                self.counter += 1
                self.stacks.setdefault(name, []).append(
                    f"{name.lower().removesuffix('id')}-{self.counter}"
                )
            elif not self.stacks.get(name):
                self.stacks[name] = ["default"]
        return self.substitute(path, positional=False)

    def substitute(self, text: str, positional: bool) -> str:
        seen: dict[str, int] = {}

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "projectId":
                return PROJECT
            if name == "operationID":
                return self.last_operation
            stack = self.stacks.get(name)
            if not stack:
                return f"{name.lower()}-x"
            index = seen.get(name, 0)
            seen[name] = index + 1
            if positional and len(stack) > 1 and index < len(stack):
                return stack[index]
            return stack[-1]

        return _PLACEHOLDER.sub(value, text)

    def bind_body(self, exchange: Exchange, path: str) -> Any:
        if exchange.body is None:
            return None
        body = copy_json(exchange.body)
        if isinstance(body, dict) and isinstance(body.get("name"), str):
            # The resource's own name is the newest binding, not a positional one.
            body["name"] = self.substitute(body["name"], positional=False)
        body = json.loads(self.substitute(json.dumps(body), positional=True))
        for field in ("labelFingerprint", "fingerprint"):
            if isinstance(body, dict) and field in body:
                # Fingerprints are opaque tokens of the server that issued them.
                current = requests.get(
                    self.gce.endpoint + path.rsplit("/", 1)[0], timeout=10
                ).json()
                body[field] = current.get(field, body[field])
        return body

    def send(self, exchange: Exchange) -> requests.Response:
        path = self.bind_path(exchange)
        body = self.bind_body(exchange, path)
        response = requests.request(
            exchange.method, self.gce.endpoint + path, json=body, timeout=10
        )
        answer = response.json()
        if answer.get("kind") == "compute#operation" and exchange.method != "GET":
            self.last_operation = answer["name"]
        if exchange.method == "DELETE" and exchange.status == 200:
            for name in _PLACEHOLDER.findall(exchange.url.split("?", 1)[0].rsplit("/", 1)[-1]):
                if self.stacks.get(name):
                    self.stacks[name].pop()
        return response


def copy_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def compare(exchange: Exchange, response: requests.Response) -> list[str]:
    where = f"{exchange.method} {exchange.url}"
    problems = []
    if response.status_code != exchange.status:
        return [
            f"{where}: status {response.status_code}, recorded {exchange.status}: {response.text[:300]}"
        ]
    answer = response.json()
    recorded = exchange.response or {}
    if "error" in recorded:
        want = [(e["reason"], e.get("domain")) for e in recorded["error"]["errors"]]
        got = [(e["reason"], e.get("domain")) for e in answer["error"]["errors"]]
        if want != got or answer["error"]["code"] != recorded["error"]["code"]:
            problems.append(f"{where}: error {got}, recorded {want}")
        return problems
    missing = set(recorded) - set(answer)
    if missing:
        problems.append(f"{where}: missing fields {sorted(missing)}")
    if recorded.get("kind") != answer.get("kind"):
        problems.append(f"{where}: kind {answer.get('kind')}, recorded {recorded.get('kind')}")
    # Operations must be in the recorded state: RUNNING when started (or DONE
    # for the calls the API completes at once), DONE when polled.
    recorded_status = recorded.get("status")
    if recorded.get("kind") == "compute#operation" and answer.get("status") != recorded_status:
        problems.append(f"{where}: operation {answer.get('status')}, recorded {recorded_status}")
    return problems


def test_recordings_are_present() -> None:
    if not RECORDED.is_dir():
        pytest.fail(f"recorded Compute Engine traffic not found at {RECORDED}")
    assert len(LOGS) == 5


@pytest.mark.parametrize("log", LOGS)
def test_replay_recorded_traffic(fake_compute: FakeCompute, log: str) -> None:
    exchanges = [e for e in parse_log(RECORDED / log) if e.url.startswith(COMPUTE)]
    assert exchanges, f"{log} has no Compute Engine traffic"
    replayer = Replayer(fake_compute)
    problems = []
    for exchange in exchanges:
        problems += compare(exchange, replayer.send(exchange))
    assert problems == [], "\n".join(problems)


def test_parser_reads_requests_and_responses() -> None:
    if not RECORDED.is_dir():
        pytest.fail(f"recorded Compute Engine traffic not found at {RECORDED}")
    exchanges = parse_log(RECORDED / "computefirewall.http.log")
    insert = next(e for e in exchanges if e.method == "POST")
    assert insert.url.endswith("/global/firewalls") and insert.status == 200
    assert insert.body["name"] == "${firewallID}"
    assert insert.response["kind"] == "compute#operation"
    assert [e.status for e in exchanges if e.method == "GET" and "firewalls" in e.url] == [
        404,
        200,
        200,
    ]


def test_compare_reports_what_differs() -> None:
    recorded = Exchange("GET", f"{COMPUTE}/x", None, 200, {"kind": "compute#disk", "users": []})

    class Answer(requests.Response):
        def __init__(self, status: int, body: Any) -> None:
            super().__init__()
            self.status_code = status
            self._content = json.dumps(body).encode()

    assert compare(recorded, Answer(200, {"kind": "compute#disk", "users": [], "id": "1"})) == []
    assert "missing fields ['users']" in compare(recorded, Answer(200, {"kind": "compute#disk"}))[0]
    assert "status 404" in compare(recorded, Answer(404, {"error": {}}))[0]
