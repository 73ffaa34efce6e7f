"""The GCE target's REST client: retries, Retry-After, quota, operation errors (no server)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from gitkube_plugins.gce.client import GceApiError, GceClient, RetryPolicy, short_link


class Response:
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None):
        self.status_code = status
        self._body = body if body is not None else {}
        self.headers = headers or {}
        self.content = b"x"
        self.text = str(body)

    def json(self) -> Any:
        return self._body


class Session:
    """Answers calls from a script; records (method, url, params)."""

    def __init__(self, *answers: Response | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> Response:
        self.calls.append((method, url, dict(kwargs.get("params") or {})))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def error(status: int, reason: str, **headers: str) -> Response:
    body = {"error": {"code": status, "message": reason, "errors": [{"reason": reason}]}}
    return Response(status, body, headers)


def client(session: Session, sleeps: list[float], **policy: float) -> GceClient:
    return GceClient(
        "p", "http://gce", session=session, policy=RetryPolicy(**policy), sleep=sleeps.append
    )


def test_retries_5xx_429_and_connection_errors_with_growing_backoff():
    session = Session(
        error(500, "backendError"),
        error(503, "backendError"),
        requests.ConnectionError("reset"),
        error(429, "rateLimitExceeded"),
        Response(200, {"items": [{"name": "a"}]}),
    )
    sleeps: list[float] = []
    assert client(session, sleeps, initial=1.0).list("global/firewalls") == [{"name": "a"}]
    assert len(sleeps) == 4
    # jittered within [delay/2, delay], delay doubling: 1, 2, 4, 8
    for pause, delay in zip(sleeps, (1, 2, 4, 8), strict=True):
        assert delay / 2 <= pause <= delay


def test_retry_after_is_honoured():
    session = Session(error(429, "rateLimitExceeded", **{"Retry-After": "7"}), Response(200))
    sleeps: list[float] = []
    client(session, sleeps, deadline=60).call("GET", "global/firewalls")
    assert sleeps == [7.0]


def test_gives_up_within_the_budget():
    session = Session(*[error(500, "backendError") for _ in range(50)])
    sleeps: list[float] = []
    with pytest.raises(GceApiError, match="gave up") as info:
        client(session, sleeps, initial=1.0, maximum=2.0, deadline=0.5).call("GET", "x")
    assert info.value.status == 500
    assert len(session.calls) == 1  # the first pause would overrun 0.5s


def test_quota_is_never_retried():
    session = Session(error(403, "quotaExceeded"))
    with pytest.raises(GceApiError, match="not retried") as info:
        client(session, []).call("POST", "global/firewalls", body={})
    assert info.value.quota


def test_mutations_keep_their_request_id_across_retries():
    session = Session(
        error(502, "backendError"),
        Response(200, {"name": "op-1", "status": "RUNNING", "region": "x/regions/r1"}),
        Response(200, {"name": "op-1", "status": "DONE"}),
    )
    done = client(session, []).mutate("POST", "regions/r1/addresses", body={"name": "a"})
    assert done["status"] == "DONE"
    first, second, wait = session.calls
    assert first[2]["requestId"] == second[2]["requestId"]
    assert wait[1] == "http://gce/compute/v1/projects/p/regions/r1/operations/op-1/wait"
    assert "requestId" not in wait[2]


def test_an_operation_error_names_the_resource_and_code():
    op = {
        "name": "op-2",
        "status": "DONE",
        "operationType": "insert",
        "targetLink": "https://compute.googleapis.com/compute/v1/projects/p/global/firewalls/f",
        "httpErrorStatusCode": 403,
        "error": {"errors": [{"code": "QUOTA_EXCEEDED", "message": "Quota 'FIREWALLS'"}]},
    }
    with pytest.raises(GceApiError, match="insert of global/firewalls/f failed: QUOTA_EXCEEDED"):
        client(Session(Response(200, op)), []).mutate("POST", "global/firewalls", body={})


def test_short_link():
    assert (
        short_link("https://x/compute/v1/projects/p/zones/z/instances/i") == "zones/z/instances/i"
    )
    assert short_link("projects/p/global/networks/default") == "global/networks/default"
    assert short_link("global/networks/default") == "global/networks/default"
