"""The answer endpoint over real HTTP: a wrong token, other settings or a malformed body never reach the Asker."""

from __future__ import annotations

import http.client
import json

from articleqa.endpoint import ask, find
from articleqa.settings import Settings
from qa.service import AnswerService, start_endpoint, stop_endpoint


def _post(port: int, body: bytes, token: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/ask", body, {"Authorization": f"Bearer {token}"})
    status = conn.getresponse().status
    conn.close()
    return status


def test_endpoint_refuses_before_answering(tmp_path):
    settings = Settings(store_path=tmp_path, collection="t")
    service = AnswerService(settings)
    server, endpoint = start_endpoint(service, tmp_path, "daemon")
    try:
        assert find(settings) == endpoint
        assert _post(endpoint.port, b'{"question": "q"}', "wrong") == 401
        assert _post(endpoint.port, b"[1, 2]", endpoint.token) == 400
        assert _post(endpoint.port, b"x" * 70_000, endpoint.token) == 400
        status, reply = ask(endpoint, {"question": "Who?", "fingerprint": "other"}, timeout=10)
        assert status == 409 and "other settings" in reply["error"]
        status, reply = ask(endpoint, {"question": 7, "fingerprint": service.fingerprint}, timeout=10)
        assert status == 400, reply
        assert json.dumps(reply)  # every reply is JSON
    finally:
        stop_endpoint(server, tmp_path)
        service.close()
    assert find(settings) is None
