"""The local router in this process: its request handler served on 127.0.0.1 in a thread, in front of a stand-in
deployment (an HTTP server in another thread), so each rule Azure ML's endpoints follow (key, routes, body limits,
traffic, 424/408/429/502, mirrored copies) and the request log are checked without starting a process."""

import http.client
import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlops_actions.backends import router

BODY = json.dumps({"input_data": {"columns": ["a", "b"], "index": [0], "data": [[1, 2]]}}).encode()


# -- the request log ---------------------------------------------------------------------------------------------

def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_an_entry_keeps_the_requests_data_and_marks(tmp_path, monkeypatch):
    monkeypatch.setattr(router.time, "time", lambda: 1000.5)
    log = router.RequestLog(tmp_path / "requests.jsonl")
    log.add("blue", 200, 12.34567, BODY, False)
    log.add("green", 424, 1.0, b"not json", True, mirrored=True)
    log.add("blue", 200, 1.0, json.dumps({"input_data": [[1]]}).encode(), False)
    log.add("blue", 200, 1.0, json.dumps({"input_data": {"data": "x"}}).encode(), False)
    log.add("blue", 200, 1.0, b"[1, 2]", False)
    assert lines(tmp_path / "requests.jsonl") == [
        {"time": 1000.5, "deployment": "blue", "status": 200, "ms": 12.346, "columns": ["a", "b"], "rows": [[1, 2]]},
        {"time": 1000.5, "deployment": "green", "status": 424, "ms": 1.0, "probe": True, "mirror": True},
        {"time": 1000.5, "deployment": "blue", "status": 200, "ms": 1.0},
        {"time": 1000.5, "deployment": "blue", "status": 200, "ms": 1.0},
        {"time": 1000.5, "deployment": "blue", "status": 200, "ms": 1.0}]
    assert (tmp_path / "requests.jsonl").stat().st_mode & 0o777 == 0o600


def test_data_is_kept_up_to_the_logged_size(tmp_path, monkeypatch):
    monkeypatch.setattr(router, "LOGGED_BYTES", len(BODY))
    log = router.RequestLog(tmp_path / "requests.jsonl")
    log.add("blue", 200, 1.0, BODY, False)
    log.add("blue", 200, 1.0, BODY + b" ", False)
    first, second = lines(tmp_path / "requests.jsonl")
    assert first["rows"] == [[1, 2]] and "rows" not in second


def test_the_log_rotates_past_its_size(tmp_path, monkeypatch):
    monkeypatch.setattr(router.time, "time", lambda: 1000.5)  # lines of one length
    path = tmp_path / "requests.jsonl"
    log = router.RequestLog(path, rotate_bytes=200)
    log.add("blue", 200, 1.0, b"", False)
    size = path.stat().st_size
    log = router.RequestLog(path, rotate_bytes=2 * size)
    log.add("blue", 201, 1.0, b"", False)  # exactly at the limit: kept
    assert len(lines(path)) == 2 and not path.with_name("requests.jsonl.1").exists()
    log.add("blue", 202, 1.0, b"", False)
    assert [e["status"] for e in lines(path.with_name("requests.jsonl.1"))] == [200, 201]
    assert [e["status"] for e in lines(path)] == [202]


def test_a_log_that_cannot_be_written_warns_once(tmp_path, capsys):
    log = router.RequestLog(tmp_path / "missing" / "requests.jsonl")
    log.add("blue", 200, 1.0, b"", False)
    log.add("blue", 200, 1.0, b"", False)
    err = capsys.readouterr().err
    assert err.count("router: cannot write") == 1
    assert err.startswith(f"router: cannot write {tmp_path / 'missing' / 'requests.jsonl'} (")
    assert err.endswith("): requests are answered but no longer logged for the monitor\n")


# -- the record and the choice of deployment ---------------------------------------------------------------------

def test_the_record_is_reread_when_it_changes(tmp_path):
    path = tmp_path / "endpoint.json"
    path.write_text('{"key": "a"}')
    record = router.Record(path)
    assert record.get() == {"key": "a"}
    path.write_text('{"key": "b"}')
    os.utime(path, ns=(1, 1))
    assert record.get() == {"key": "b"}
    path.write_text('{"key": "c"}')
    os.utime(path, ns=(1, 1))  # the same stamp: not reread
    assert record.get() == {"key": "b"}


RECORD = {"deployments": {"blue": {}, "green": {}, "red": {}}, "traffic": {"blue": 0, "green": 100, "gone": 50}}


def test_a_named_deployment_is_chosen_even_at_zero_percent():
    assert router.choose(RECORD, "blue") == ("blue", "")
    assert router.choose(RECORD, "gone") == (None, "no deployment named 'gone'")


def test_traffic_goes_by_weight_to_deployments_that_exist():
    assert {router.choose(RECORD, None) for _ in range(50)} == {("green", "")}
    split = {"deployments": {"blue": {}, "green": {}}, "traffic": {"blue": 50, "green": 50}}
    assert {router.choose(split, None)[0] for _ in range(200)} == {"blue", "green"}


def test_a_named_deployment_of_a_record_without_deployments():
    assert router.choose({}, "blue") == (None, "no deployment named 'blue'")


def test_one_percent_takes_traffic_and_weights_are_the_shares(monkeypatch):
    assert router.choose({"deployments": {"blue": {}, "green": {}}, "traffic": {"blue": 1, "green": 0}}, None) == \
        ("blue", "")
    drawn = []
    monkeypatch.setattr(router.random, "choices", lambda names, weights: drawn.append((names, weights)) or names)
    assert router.choose({"deployments": {"blue": {}, "green": {}}, "traffic": {"blue": 90, "green": 10}}, None) == \
        ("blue", "")
    assert drawn == [(("blue", "green"), (90, 10))]


@pytest.mark.parametrize("record", [{}, {"deployments": {"blue": {}}, "traffic": {"blue": 0}},
                                    {"deployments": {}, "traffic": {"blue": 100}}])
def test_no_deployment_takes_traffic(record):
    assert router.choose(record, None) == (None, "no deployment takes traffic")


def test_the_mirror_is_drawn_by_its_share(monkeypatch):
    record = {"deployments": {"blue": {}, "green": {}}, "mirror": {"gone": 50, "blue": 0, "green": 10}}
    monkeypatch.setattr(router.random, "uniform", lambda low, high: 9.99 if (low, high) == (0, 100) else None)
    assert router.mirror_of(record) == "green"
    monkeypatch.setattr(router.random, "uniform", lambda low, high: 10.0)
    assert router.mirror_of(record) is None
    assert router.mirror_of({"deployments": {"blue": {}}, "mirror": None}) is None
    assert router.mirror_of({"mirror": {"blue": 100}}) is None


def test_in_flight_requests_are_held_to_the_limit():
    assert router.InFlight.limit({"max_concurrent_requests_per_instance": 3, "instance_count": 2}) == 12
    assert router.InFlight.limit({"max_concurrent_requests_per_instance": 3}) == 6
    assert router.InFlight.limit({"instance_count": 2}) is None
    flights = router.InFlight()
    assert flights.enter("blue", 2) and flights.enter("blue", 2) and not flights.enter("blue", 2)
    assert flights.enter("green", None) and flights.enter("green", None)
    flights.leave("blue")
    assert flights.enter("blue", 2) and not flights.enter("blue", 2)
    assert flights.enter("red", 1) and not flights.enter("red", 1)
    for _ in range(3):
        assert flights.enter("grey", 3)
    flights.leave("grey")
    assert flights.enter("grey", 3) and not flights.enter("grey", 3)


def test_the_upstream_timeout():
    assert router.timeout_ms({}) == 120_000
    assert router.timeout_ms({"request_timeout_ms": 5}) == 5


def test_forward_waits_the_deployments_timeout_on_its_socket_or_port(monkeypatch):
    opened = []

    class Connection:
        def __init__(self, *arguments, **keywords):
            opened.append((arguments, keywords))

        def request(self, *arguments, **keywords):
            raise OSError("recorded only")

        def close(self):
            pass
    monkeypatch.setattr(router, "UnixHTTPConnection", Connection)
    monkeypatch.setattr(router.http.client, "HTTPConnection", Connection)
    for deployment in ({"socket": "/s.sock", "request_timeout_ms": 2500}, {"port": 9, "request_timeout_ms": 1500}):
        with pytest.raises(OSError):
            router.forward(deployment, b"", {})
    assert opened == [(("/s.sock", 2.5), {}), (("127.0.0.1", 9), {"timeout": 1.5})]


# -- chunked bodies ----------------------------------------------------------------------------------------------

def chunked(data: bytes, limit: int = 100):
    import io

    return router.read_chunked(io.BytesIO(data), limit)


@pytest.mark.parametrize("data, expected", [
    (b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n", b"Wikipedia"),
    (b"a\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n", b"0123456789"),
    (b"3\nabc\n0\n\n", b"abc"), (b"0\r\n\r\n", b""), (b"0\r\n", (400, "malformed chunked body")),
    (b"x\r\n", (400, "malformed chunked body")), (b"5\r\nabc", (400, "malformed chunked body")),
    (b"3\r\nabcX\r\n0\r\n\r\n", (400, "malformed chunked body")),
    (b"65\r\n" + b"a" * 101 + b"\r\n0\r\n\r\n", (413, "send a body of at most 100 bytes")),
    (b"64\r\n" + b"a" * 100 + b"\r\n1\r\nb\r\n0\r\n\r\n", (413, "send a body of at most 100 bytes")),
])
def test_a_chunked_body(data, expected):
    assert chunked(data) == expected


@pytest.mark.parametrize("size", [b"-5", b"+5", b"0x5", b" 5", b"5_0", b"", b"g", b"1" * 17, b"5\r"])
def test_a_chunk_size_is_hex_digits_alone(size):
    assert chunked(size + b"\r\nhello\r\n0\r\n\r\n") == (400, "malformed chunked body")


def test_a_chunk_size_may_be_followed_by_spaces_and_extensions():
    assert chunked(b"5 \t;name=value\r\nhello\r\n0\r\n\r\n") == b"hello"


def test_a_size_or_trailer_line_over_1024_bytes_is_refused_whole_never_read_in_parts():
    """Read in 1024-byte parts, the rest of a long line would be taken for the body or the next request."""
    assert chunked(b"5;" + b"e" * 1020 + b"\r\nhello\r\n0\r\n\r\n") == b"hello"  # 1024 bytes with its CRLF
    assert chunked(b"5;" + b"e" * 1021 + b"\r\nhello\r\n0\r\n\r\n") == (400, "malformed chunked body")
    assert chunked(b"5;" + b"e" * 2000 + b"\r\n0\r\n\r\n") == (400, "malformed chunked body")
    assert chunked(b"0" * 30 + b"5\r\nhello\r\n" + b"0" * 20 + b"\r\n\r\n") == b"hello"  # leading zeros
    assert chunked(b"1" + b"0" * 16 + b"\r\nhello\r\n0\r\n\r\n") == (400, "malformed chunked body")  # 2**64


def test_no_line_is_read_past_1024_bytes():
    """A client cannot make the router buffer a line without end, after a size, a chunk or in the trailers."""
    import io

    for head in (b"", b"3\r\nabc", b"0\r\n"):
        stream = io.BytesIO(head + b"x" * 5000)
        assert router.read_chunked(stream, 100) == (400, "malformed chunked body")
        assert stream.tell() == len(head) + router.MAX_LINE


def test_the_body_ends_at_the_blank_line_after_the_trailers():
    import io

    for trailer, expected, left in ((b"", b"abc", b"NEXT"), (b"X: " + b"a" * 1019 + b"\r\n", b"abc", b"NEXT"),
                                    (b"X: " + b"a" * 1020 + b"\r\n", (400, "malformed chunked body"), None)):
        stream = io.BytesIO(b"3\nabc\n0\n" + trailer + b"\r\nNEXT")
        assert router.read_chunked(stream, 100) == expected
        assert left is None or stream.read() == left
    stream = io.BytesIO(b"3\nabc\n0\n\nNEXT")
    assert router.read_chunked(stream, 100) == b"abc" and stream.read() == b"NEXT"
    assert router.read_chunked(io.BytesIO(b"3\nabc\n0\nX: 1\r\n"), 100) == (400, "malformed chunked body")  # no end


def test_a_chunked_body_at_its_limit():
    assert chunked(b"64\r\n" + b"a" * 100 + b"\r\n0\r\n\r\n") == b"a" * 100


# -- the router, served here -------------------------------------------------------------------------------------

class Upstream(BaseHTTPRequestHandler):
    """A deployment's server: answers `status` with `body` after `delay` seconds, and records what it got."""
    status, body, delay, seen, gate, content_type = 200, b"[1]", 0.0, [], None, "application/json"

    def do_POST(self):  # noqa: N802
        data = self.rfile.read(int(self.headers["Content-Length"]))
        names = ("Content-Type", "Accept", "Authorization", "X-Other")
        type(self).seen.append((self.path, data, {name: self.headers.get(name) for name in names}))
        time.sleep(type(self).delay)
        if type(self).gate:
            type(self).gate.wait(10)
        self.send_response(type(self).status)
        if type(self).content_type:
            self.send_header("Content-Type", type(self).content_type)
        self.send_header("Content-Length", str(len(type(self).body)))
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, *arguments):
        pass


def serve(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    return server


class Ticking:
    """perf_counter for router.py: each reading is a quarter second after the last, so a request that reads it twice
    (start, end) is logged at 250 ms."""

    def __init__(self):
        self.now, self.lock, self.time = 0.0, threading.Lock(), time.time

    def perf_counter(self):
        with self.lock:
            self.now += 0.25
            return self.now


@pytest.fixture
def endpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(router, "time", Ticking())

    class Deployment(Upstream):
        status, body, delay, seen, gate, content_type = 200, b"[1]", 0.0, [], None, "application/json"

    upstream = serve(Deployment)
    record = {"key": "k3y", "traffic": {"blue": 100, "green": 0},
              "deployments": {"blue": {"port": upstream.server_port}, "green": {"port": upstream.server_port}}}
    path = tmp_path / "endpoint.json"
    path.write_text(json.dumps(record))
    front = serve(router.handler_for(router.Record(path), router.RequestLog(tmp_path / "requests.jsonl")))

    def send(method="POST", url="/score", body=BODY, key="k3y", headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", front.server_port, timeout=10)
        sent = {**({"Authorization": f"Bearer {key}"} if key is not None else {}), **(headers or {})}
        if body is not None and "Transfer-Encoding" not in sent:
            sent.setdefault("Content-Length", str(len(body)))
        connection.request(method, url, body=body, headers=sent)
        response = connection.getresponse()
        answer = (response.status, response.read(), dict(response.getheaders()))
        try:  # a connection the router closed after its answer (HTTP/1.1 keeps the others open)
            connection.request("GET", "/health")
            connection.getresponse().read()
            answer[2]["Connection"] = "kept"
        except (http.client.HTTPException, OSError):
            answer[2]["Connection"] = "close"
        connection.close()
        return answer

    def rewrite(**changes):
        record.update(changes)
        path.write_text(json.dumps(record))
        os.utime(path, ns=(time.time_ns(), time.time_ns()))
    send.deployment, send.rewrite, send.record, send.log = Deployment, rewrite, record, tmp_path / "requests.jsonl"
    send.port = front.server_port
    yield send
    front.shutdown()
    upstream.shutdown()


def test_health(endpoint):
    for url in ("/", "/health"):
        status, body, headers = endpoint("GET", url, body=None, key=None)
        assert (status, body, headers["Content-Type"]) == (200, b"Healthy", "text/plain")
    status, body, _ = endpoint("GET", "/other", body=None, key=None)
    assert (status, json.loads(body)) == (404, {"error": "no route /other"})


@pytest.mark.parametrize("key", [None, "wrong", "", "k3y "])
def test_a_wrong_or_missing_key_is_refused_before_the_body_is_read(endpoint, key):
    status, body, headers = endpoint(key=key)
    assert (status, json.loads(body)) == (401, {"error": "missing or wrong key: send Authorization: Bearer "
                                                         "<endpoint key>"})
    assert headers["Connection"] == "close" and headers["Content-Type"] == "application/json"
    assert endpoint.deployment.seen == []


def test_an_endpoint_without_a_key_refuses_an_empty_one(endpoint):
    endpoint.rewrite(key="")
    assert endpoint(key="")[0] == 200  # "Bearer " is what an empty key is
    assert endpoint(key=None)[0] == 401


def test_a_record_without_a_key_takes_no_made_up_one(endpoint):
    endpoint.record.pop("key")
    endpoint.rewrite()
    assert endpoint(key="None")[0] == 401 and endpoint(key="XXXX")[0] == 401


def test_a_body_without_any_length_is_a_411(endpoint):
    import socket

    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) as client:
        client.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k3y\r\n\r\n")
        assert client.recv(100).startswith(b"HTTP/1.1 411 ")


def test_a_body_of_the_largest_size_is_taken(endpoint, monkeypatch):
    monkeypatch.setattr(router, "MAX_BODY", len(BODY))
    assert endpoint()[0] == 200
    assert endpoint(body=BODY + b" ")[0] == 413


def test_only_score_is_routed(endpoint):
    status, body, headers = endpoint(url="/predict")
    assert (status, json.loads(body)) == (404, {"error": "no route /predict; POST /score"})
    assert headers["Connection"] == "close"
    assert endpoint(url="/score?verbose=1")[0] == 200


def test_an_answer_names_its_deployment_and_forwards_the_content_headers(endpoint):
    status, body, headers = endpoint(headers={"Content-Type": "application/json", "Accept": "text/csv",
                                              "X-Other": "no"})
    assert (status, body, headers["azureml-model-deployment"]) == (200, b"[1]", "blue")
    assert headers["Connection"] == "kept"
    assert headers["Content-Length"] == "3"
    [(path, data, forwarded)] = endpoint.deployment.seen
    assert (path, data) == ("/score", BODY)
    assert forwarded == {"Content-Type": "application/json", "Accept": "text/csv", "Authorization": None,
                         "X-Other": None}
    [entry] = lines(endpoint.log)
    assert (entry["deployment"], entry["status"], entry["rows"], entry["ms"]) == ("blue", 200, [[1, 2]], 250.0)
    assert "probe" not in entry


def test_the_upstream_content_type_is_kept(endpoint):
    endpoint.deployment.content_type = "text/csv"
    assert endpoint()[2]["Content-Type"] == "text/csv"
    endpoint.deployment.status = 201
    status, _, headers = endpoint()
    assert (status, headers["Content-Type"]) == (424, "application/json")
    endpoint.deployment.status, endpoint.deployment.content_type = 200, None
    assert endpoint()[2]["Content-Type"] == "application/json"  # none given: JSON, as the server answers


def test_a_client_that_stops_sending_is_dropped(tmp_path, monkeypatch):
    import socket

    monkeypatch.setattr(router, "CLIENT_TIMEOUT", 0.3)
    (tmp_path / "endpoint.json").write_text('{"key": "k"}')
    server = serve(router.handler_for(router.Record(tmp_path / "endpoint.json"),
                                      router.RequestLog(tmp_path / "requests.jsonl")))
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as client:
            client.sendall(b"POST /score HTTP/1.1\r\n")  # and nothing more
            assert client.recv(100) == b""  # closed by the router, not left waiting
    finally:
        server.shutdown()
        server.server_close()


def test_a_deployment_is_reached_by_name_and_a_probe_is_marked(endpoint):
    status, _, headers = endpoint(headers={"azureml-model-deployment": "green", "mlops-actions-probe": "smoke"})
    assert (status, headers["azureml-model-deployment"]) == (200, "green")
    assert lines(endpoint.log)[0]["probe"] is True
    status, body, _ = endpoint(headers={"azureml-model-deployment": "red"})
    assert (status, json.loads(body)) == (404, {"error": "no deployment named 'red'"})


def test_traffic_moves_without_a_restart(endpoint):
    endpoint.rewrite(traffic={"blue": 0, "green": 100})
    assert endpoint()[2]["azureml-model-deployment"] == "green"
    endpoint.rewrite(traffic={"blue": 0, "green": 0})
    status, body, _ = endpoint()
    assert (status, json.loads(body)) == (404, {"error": "no deployment takes traffic"})


def test_a_model_error_is_a_424_with_the_models_status(endpoint):
    endpoint.deployment.status, endpoint.deployment.body = 500, b"x" * 1500
    status, body, headers = endpoint()
    assert status == 424
    assert json.loads(body) == {"message": "An unexpected error occurred in scoring script. Check the logs for more "
                                           "info. (model status 500)", "model_response": "x" * 1000}
    assert (headers["ms-azureml-model-error-statuscode"], headers["ms-azureml-model-error-reason"],
            headers["azureml-model-deployment"]) == ("500", "model_error", "blue")
    assert lines(endpoint.log)[0]["status"] == 424


def test_a_model_error_that_is_not_utf8_is_passed_on_replaced(endpoint):
    endpoint.deployment.status, endpoint.deployment.body = 500, b"bad \xff"
    status, body, _ = endpoint()
    assert (status, json.loads(body)["model_response"]) == (424, "bad \ufffd")


def test_each_request_is_one_line_in_the_routers_log(endpoint, capsys):
    endpoint()
    err = capsys.readouterr().err
    assert re.match(r'\d\d/\w+/\d{4} [\d:]+ "POST /score HTTP/1.1" 200 -\n\d', err), err  # then the health check


def test_a_slow_deployment_is_a_408(endpoint):
    endpoint.record["deployments"]["blue"]["request_timeout_ms"] = 100
    endpoint.rewrite()
    endpoint.deployment.delay = 0.5
    status, body, _ = endpoint(headers={"mlops-actions-probe": "smoke"})
    assert (status, json.loads(body)) == (408, {"error": "deployment blue took longer than request_timeout_ms "
                                                         "(100 ms)"})
    [entry] = lines(endpoint.log)
    assert (entry["deployment"], entry["status"], entry["ms"], entry["probe"]) == ("blue", 408, 250.0, True)


def test_a_deployment_that_does_not_answer_is_a_502(endpoint, tmp_path):
    endpoint.rewrite(deployments={"blue": {"socket": str(tmp_path / "nothing.sock")}})
    status, body, _ = endpoint(headers={"mlops-actions-probe": "smoke"})
    assert status == 502 and json.loads(body)["error"].startswith("deployment blue did not answer: ")
    [entry] = lines(endpoint.log)
    assert (entry["deployment"], entry["status"], entry["ms"], entry["probe"]) == ("blue", 502, 250.0, True)


def test_more_requests_than_the_deployment_admits_are_a_429(endpoint):
    endpoint.record["deployments"]["blue"].update(max_concurrent_requests_per_instance=1)
    endpoint.rewrite()
    endpoint.deployment.gate = threading.Event()  # the deployment answers when the test says so
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(endpoint())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for _ in range(200):  # both in flight
        if len(endpoint.deployment.seen) == 2:
            break
        time.sleep(0.02)
    status, body, _ = endpoint(headers={"mlops-actions-probe": "smoke"})
    assert (status, json.loads(body)) == (429, {"error": "too many requests in parallel for deployment blue: at "
                                                         "most 2 (2 x max_concurrent_requests_per_instance x "
                                                         "instance_count)"})
    endpoint.deployment.gate.set()
    for thread in threads:
        thread.join()
    assert [a[0] for a in answers] == [200, 200]
    assert endpoint()[0] == 200  # the places were given back
    assert sorted(e["status"] for e in lines(endpoint.log)) == [200, 200, 200, 429]
    [refusal] = [e for e in lines(endpoint.log) if e["status"] == 429]
    assert (refusal["deployment"], refusal["ms"], refusal["probe"]) == ("blue", 250.0, True)


@pytest.mark.parametrize("headers, status, message", [
    ({"Content-Length": "x"}, 411, f"send a Content-Length (or a chunked body) of at most {32 << 20} bytes"),
    ({"Content-Length": str((32 << 20) + 1)}, 413, f"send a Content-Length (or a chunked body) of at most "
                                                   f"{32 << 20} bytes"),
])
def test_a_body_without_a_usable_length(endpoint, headers, status, message):
    answer = endpoint(body=b"", headers=headers)
    assert (answer[0], json.loads(answer[1]), answer[2]["Connection"]) == (status, {"error": message}, "close")


def test_a_chunked_body_is_read(endpoint):
    status, _, _ = endpoint(body=b"5\r\nhello\r\n0\r\n\r\n", headers={"Transfer-Encoding": "Chunked"})
    assert status == 200 and endpoint.deployment.seen[0][1] == b"hello"
    status, body, headers = endpoint(body=b"zz\r\n", headers={"Transfer-Encoding": "chunked"})
    assert (status, json.loads(body), headers["Connection"]) == (400, {"error": "malformed chunked body"}, "close")


def test_a_mirrored_copy_goes_to_the_mirror_and_is_logged_as_such(endpoint):
    endpoint.rewrite(mirror={"green": 100})
    status, _, headers = endpoint(headers={"mlops-actions-probe": "smoke"})
    assert (status, headers["azureml-model-deployment"]) == (200, "blue")
    for _ in range(50):
        if len(lines(endpoint.log)) == 2:
            break
        time.sleep(0.05)
    entries = sorted(lines(endpoint.log), key=lambda e: e["deployment"])
    assert [(e["deployment"], e.get("mirror", False), e["probe"]) for e in entries] == [("blue", False, True),
                                                                                        ("green", True, True)]
    assert all(e["ms"] % 250 == 0 and 0 < e["ms"] <= 1000 for e in entries)
    assert [seen[1] for seen in endpoint.deployment.seen] == [BODY, BODY]
    endpoint(headers={"azureml-model-deployment": "blue"})  # a request naming a deployment is not mirrored
    time.sleep(0.2)
    assert len(endpoint.deployment.seen) == 3


def test_a_mirror_that_does_not_answer_is_logged_as_a_502(endpoint, tmp_path):
    endpoint.rewrite(mirror={"green": 100}, deployments={**endpoint.record["deployments"],
                                                         "green": {"socket": str(tmp_path / "none.sock")}})
    assert endpoint()[0] == 200
    for _ in range(50):
        if len(lines(endpoint.log)) == 2:
            break
        time.sleep(0.05)
    assert {(e["deployment"], e["status"], e.get("mirror", False)) for e in lines(endpoint.log)} == {
        ("blue", 200, False), ("green", 502, True)}
