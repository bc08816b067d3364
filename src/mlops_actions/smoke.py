"""The smoke-test job: real requests to an endpoint (or one deployment), asserted answers and latency,
and a rollback when they fail."""

from __future__ import annotations

import json
import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mlops_actions import backends, environment, github, splits
from mlops_actions.inputs import Input, Inputs

INPUTS = [
    Input("endpoint-name", "The online endpoint.", required=True),
    Input("deployment-name", "Test this deployment directly (even at 0% traffic). Empty: the endpoint, as "
          "its clients reach it."),
    Input("request-file", "A JSON request, in the Azure ML payload format: "
          "{\"input_data\": {\"columns\": [...], \"index\": [...], \"data\": [[...]]}}.", required=True),
    Input("requests", "How many times to send it.", "10"),
    Input("concurrency", "How many requests are in flight at once (capped at what the deployment admits: "
          "2 x max_concurrent_requests_per_instance x instance_count on Azure ML).", "1"),
    Input("expected-status", "The HTTP status every answer must have.", "200"),
    Input("expected-output", "The exact JSON every answer must equal: a file path or inline JSON, e.g. '[1, 0]'."),
    Input("response-schema", "A JSON Schema file every answer must match."),
    Input("expected-rows", "How many predictions (items of the JSON list) every answer must hold; 'auto': as "
          "many as the request has rows. Empty: not checked.", "auto"),
    Input("max-p95-ms", "Fail when the 95th percentile latency is above this (milliseconds). Empty: no limit."),
    Input("timeout-seconds", "Time limit of one request.", "30"),
    Input("rollback", "When the test fails, send the traffic back to previous-deployment ('true' or "
          "'false').", "false"),
    Input("previous-deployment", "The deployment to return traffic to (deploy-endpoint's previous-deployment "
          "output)."),
    Input("failed-deployment", "On rollback, what happens to the failed deployment: 'delete' it or 'keep' it "
          "at 0%.", "delete", choices=("delete", "keep")),
    *backends.INPUTS,
]
OUTPUTS = {
    "passed": "'true' when every check held, else 'false'.",
    "latency-p50-ms": "Median latency, milliseconds.",
    "latency-p95-ms": "95th percentile latency, milliseconds.",
    "requests": "Requests sent.",
    "retried": "Requests answered 429 (too many) or 408 (timed out) at first and sent again; they are left out "
               "of the latency figures.",
    "failures": "Requests whose answer failed a check.",
    "rolled-back": "'true' when a rollback changed the endpoint (traffic back to previous-deployment, the failed "
                   "deployment deleted or set to 0%).",
}
SAMPLE_CHARS = 300
RETRIED = (429, 408)  # the service's "too many requests" and "request timed out": sent again after a pause
RETRIES = 3
RETRY_SECONDS = 0.5  # doubled on each retry
PROBE_HEADER = {"mlops-actions-probe": "smoke-test"}  # so that monitoring leaves these requests out


def probe_headers() -> dict[str, str]:
    """What marks a smoke test's request: a header the local router logs, and a client request ID (kept by
    Azure ML: letters, digits, '-' and '_', at most 40 characters) for Azure's collected data."""
    return {**PROBE_HEADER, "x-ms-client-request-id": f"mlops-actions-probe-{uuid.uuid4().hex[:12]}"}


@dataclass
class Answer:
    status: int
    text: str
    deployment: str
    seconds: float
    problems: list[str]
    retries: int = 0


def ms(value: float | None, missing: str = "-") -> str:
    """Milliseconds as the report shows them; `missing` when there is no figure."""
    return missing if value is None else f"{value:.1f}"


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share / 100 * len(ordered)) - 1)] if ordered else 0.0


def latency_problems(p95: float | None, max_p95: float | None) -> list[str]:
    """max-p95-ms held: a p95 above it (not at it) fails, and so does having no latency to hold to it."""
    if max_p95 is None:
        return []
    if p95 is None:
        return ["every request was retried after a 429 or 408: there is no latency to hold to max-p95-ms"]
    return [f"p95 latency {p95:.1f} ms is above max-p95-ms {max_p95:g} ms"] if p95 > max_p95 else []


def load_json_input(inputs: Inputs, name: str, base: Path):
    """An input that is inline JSON, or a JSON file's path."""
    text = inputs[name]
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return json.loads((base / text).read_text())
    except (OSError, ValueError) as exc:
        raise inputs.error(name, f"neither JSON nor a JSON file ({exc})", "give inline JSON or the path of a "
                           ".json file") from None


def request_rows(payload) -> int | None:
    """Rows in an Azure ML payload, if it is one."""
    data = payload.get("input_data") if isinstance(payload, dict) else None
    if isinstance(data, dict):
        data = data.get("data")
    return len(data) if isinstance(data, list) else None


def read_request(inputs: Inputs, base: Path) -> tuple[bytes, int | None]:
    """The request's bytes, and its number of rows when it is an Azure ML payload."""
    path = inputs.optional_file("request-file", base)
    if path is None:
        raise inputs.error("request-file", "empty", "give a JSON file with the request to send")
    body = path.read_bytes()
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise inputs.error("request-file", f"not JSON ({exc})", "give a JSON file in the Azure ML "
                           "payload format") from None
    data = payload.get("input_data") if isinstance(payload, dict) else None
    if isinstance(data, dict):
        index, rows = data.get("index"), data.get("data")
        if not isinstance(rows, list) or not (index is None or isinstance(index, list) and len(index) == len(rows)):
            raise inputs.error("request-file", "input_data's index and data differ in length (or one is not a "
                               "list)", "give one index entry per data row")
    return body, request_rows(payload)


class Checks:
    """What every answer must satisfy."""

    def __init__(self, inputs: Inputs, base: Path, rows: int | None):
        self.status = int(inputs.number("expected-status", low=100, high=599, integer=True) or 200)
        self.output = load_json_input(inputs, "expected-output", base) if inputs["expected-output"] else None
        self.schema = None
        if inputs["response-schema"]:
            environment.require("schema")
            self.schema = load_json_input(inputs, "response-schema", base)
        if inputs["expected-rows"] == "auto":
            self.rows = rows
        else:
            expected = inputs.number("expected-rows", low=0, integer=True)
            self.rows = None if expected is None else int(expected)

    def describe(self) -> list[str]:
        checks = [f"status {self.status}"]
        if self.output is not None:
            checks.append("output equals the expected JSON")
        if self.schema is not None:
            checks.append("output matches the JSON Schema")
        if self.rows is not None:
            checks.append(f"{self.rows} predictions")
        return checks

    def problems(self, status: int, text: str) -> list[str]:
        found = [] if status == self.status else [f"status {status}, expected {self.status}"]
        if self.output is None and self.schema is None and self.rows is None:
            return found
        try:
            body = json.loads(text)
        except ValueError:
            return found + ["the answer is not JSON"]
        if self.output is not None and body != self.output:
            found.append(f"output differs from the expected {json.dumps(self.output)[:120]}")
        if self.schema is not None:
            import jsonschema

            error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(self.schema).iter_errors(body))
            if error is not None:
                found.append(f"schema: {error.message}")
        if self.rows is not None:
            count = len(body) if isinstance(body, list) else None
            if count != self.rows:
                found.append(f"{count if count is not None else 'no list of'} predictions, expected {self.rows}")
        return found


def rollback(backend: backends.Backend, inputs: Inputs, endpoint: str) -> str:
    """Send traffic back to previous-deployment; delete the failed deployment or keep it at 0%.
    Returns what was done ("" when there was nothing it could safely do)."""
    before = backend.get_endpoint(endpoint)
    assert before is not None, "run() found it before testing it"
    previous = inputs["previous-deployment"] if inputs["previous-deployment"] in before.deployments else None
    if inputs["deployment-name"]:
        failed = [inputs["deployment-name"]]
    elif previous:  # tested through the endpoint: whatever takes traffic beside the previous one failed
        failed = [name for name, share in before.traffic.items() if share > 0 and name != previous]
    else:
        github.warning(f"Nothing was rolled back on {endpoint}: with neither deployment-name nor an existing "
                       "previous-deployment there is no telling the failed deployment from a good one.",
                       title="Rollback")
        return ""
    failed = [name for name in failed if name != previous and name in before.deployments]
    if previous:
        backend.set_traffic(endpoint, {previous: 100})
    elif any(before.traffic.get(name) for name in failed):  # the others' shares, scaled to add up to 100
        backend.set_traffic(endpoint, splits.rescaled(
            {name: share for name, share in before.traffic.items() if name not in failed}))
    delete = inputs["failed-deployment"] == "delete"
    for name in failed if delete else []:
        backend.delete_deployment(endpoint, name)
    done = [f"traffic returned to {previous} (100%)"] if previous else []
    done += [f"{', '.join(failed)} {'deleted' if delete else 'kept at 0%'}"] if failed else []
    return "; ".join(done)


def summary(target: str, answers: list[Answer], checks: Checks, problems: list[str],
            latency: dict[str, float | None], rolled_back: str) -> str:
    failures = sum(bool(a.problems) for a in answers)
    head = f"### {'✅' if not problems else '❌'} Smoke test of `{target}`: {len(answers) - failures}/{len(answers)} " \
           "answers passed"
    parts = [head, github.markdown_table(
        ["Requests", "Failures", "p50 ms", "p95 ms", "p99 ms", "max ms"],
        [[len(answers), failures, *(ms(latency[k]) for k in ("p50", "p95", "p99", "max"))]]),
        "Checks: " + "; ".join(checks.describe())]
    parts += [f"**{problem}**" for problem in problems]
    if rolled_back:
        parts.append(f"**Rolled back:** {rolled_back}")
    samples: dict[tuple[int, str], Answer] = {}
    for answer in answers:
        samples.setdefault((answer.status, answer.text[:SAMPLE_CHARS]), answer)
    parts.append("<details><summary>Sample answers</summary>\n\n" + github.markdown_table(
        ["Status", "Deployment", "Body"],
        [[a.status, a.deployment, f"`{a.text[:SAMPLE_CHARS]}`"] for a in list(samples.values())[:5]])
        + "\n\n</details>")
    return "\n\n".join(parts)


def run(inputs: Inputs) -> int:
    base = Path.cwd()
    endpoint = backends.endpoint_name(inputs)
    deployment = backends.deployment_name(inputs) if inputs["deployment-name"] else None
    if inputs["previous-deployment"]:
        backends.deployment_name(inputs, "previous-deployment")
    body, rows = read_request(inputs, base)
    checks = Checks(inputs, base, rows)
    count = int(inputs.number("requests", low=1, high=100000, integer=True) or 10)
    concurrency = int(inputs.number("concurrency", low=1, high=64, integer=True) or 1)
    max_p95 = inputs.number("max-p95-ms", low=0)
    timeout = float(inputs.number("timeout-seconds", low=0.1, high=600) or 30)
    do_rollback = inputs.flag("rollback")
    if inputs["backend"] == "azureml":  # the local backend needs nothing more here
        environment.require("azureml")
    backend = backends.connect(inputs)
    found = backend.get_endpoint(endpoint)
    if found is None or (deployment and deployment not in found.deployments):
        raise github.ActionError("Nothing to test", f"{endpoint}{'/' + deployment if deployment else ''} does not "
                                 f"exist on the {backend.name} backend. Fix: deploy it first with deploy-endpoint.")
    key = backend.key(endpoint)
    github.mask(key)
    admitted = backend.concurrency_limit(endpoint, deployment)
    if admitted and concurrency > admitted:
        github.annotate("notice", f"concurrency {concurrency} is more than {endpoint} admits at once ({admitted}: "
                        "2 x max_concurrent_requests_per_instance x instance_count); sending "
                        f"{admitted} at a time.", title="Smoke test concurrency")
        concurrency = admitted

    def send(_: int) -> Answer:
        for attempt in range(RETRIES + 1):
            started = time.perf_counter()
            status, text, answered_by = backend.invoke(endpoint, body, deployment, key, timeout, probe_headers())
            seconds = time.perf_counter() - started
            if status not in RETRIED or attempt == RETRIES:
                break
            time.sleep(RETRY_SECONDS * 2 ** attempt)
        return Answer(status, text, answered_by, seconds, checks.problems(status, text), attempt)

    target = f"{endpoint}/{deployment}" if deployment else endpoint
    with github.group(f"Sending {count} requests to {target} ({concurrency} at a time)"):
        with ThreadPoolExecutor(concurrency) as pool:
            answers = list(pool.map(send, range(count)))
    retried = sum(bool(a.retries) for a in answers)
    milliseconds = [a.seconds * 1000 for a in answers if not a.retries]
    latency: dict[str, float | None]  # None: no request was timed
    latency = {"p50": percentile(milliseconds, 50), "p95": percentile(milliseconds, 95),
               "p99": percentile(milliseconds, 99), "max": max(milliseconds)} if milliseconds else \
        dict.fromkeys(("p50", "p95", "p99", "max"))
    failures = [a for a in answers if a.problems]
    problems = []
    if failures:
        first = failures[0]
        problems.append(f"{len(failures)} of {count} answers failed: {'; '.join(first.problems)} (first: status "
                        f"{first.status}, body {first.text[:200]!r})")
    problems += latency_problems(latency["p95"], max_p95)
    rolled_back = ""
    if problems and do_rollback:
        with github.group(f"Rolling back {endpoint}"):
            rolled_back = rollback(backend, inputs, endpoint)
    for problem in problems:
        github.error(problem, title=f"Smoke test of {target} failed")
    if rolled_back:
        github.warning(f"Rolled back {endpoint}: {rolled_back}.", title="Rollback")
    print(f"{target}: {count - len(failures)}/{count} passed; p50 {ms(latency['p50'])} ms, p95 {ms(latency['p95'])} ms"
          + (f"; {retried} retried after 429/408 (not in the latency figures)" if retried else ""))
    github.add_summary(summary(target, answers, checks, problems, latency, rolled_back))
    github.set_outputs({"passed": str(not problems).lower(), "latency-p50-ms": ms(latency["p50"], ""),
                        "latency-p95-ms": ms(latency["p95"], ""), "requests": count, "failures": len(failures),
                        "retried": retried,
                        "rolled-back": str(bool(rolled_back)).lower()})
    return 1 if problems else 0
