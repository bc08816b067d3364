"""`mlops-actions invoke` and `endpoints --key` on the local backend: what they refuse before sending anything,
and the key a client sends (the answers themselves: test_local_lifecycle.py and test_azureml_backend.py)."""

import json
import urllib.error
import urllib.request

import pytest

from mlops_actions import cli
from mlops_actions.backends.local import LocalBackend


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLOPS_ACTIONS_STATE", str(tmp_path / "state"))
    (tmp_path / "request.json").write_text(json.dumps({"input_data": {"columns": ["a"], "index": [0], "data": [[1]]}}))
    return tmp_path


@pytest.mark.parametrize("flags, message", [
    (["--endpoint-name", "nowhere", "--request-file", "request.json"],
     "input 'endpoint-name' is 'nowhere': no such endpoint on the local backend. Fix: name one that exists "
     "(`mlops-actions endpoints` lists the local backend's)"),
    (["--endpoint-name", "nowhere", "--request-file", "missing.json"], "input 'request-file' is 'missing.json': "
     "no such file"),
    (["--endpoint-name", "nowhere", "--request-file", "broken.json"], "input 'request-file' is 'broken.json': "
     "not JSON"),
    (["--endpoint-name=-bad-", "--request-file", "request.json"], "input 'endpoint-name' is '-bad-': not a "
     "valid Azure ML endpoint name"),
    (["--request-file", "request.json"], "input 'endpoint-name' is '': required"),
])
def test_what_cannot_be_sent_is_bad_input_naming_it(folder, capsys, flags, message):
    (folder / "broken.json").write_text("{not json")
    assert cli.main(["invoke", *flags]) == 2
    assert message in capsys.readouterr().out


def test_the_key_endpoints_prints_is_the_one_the_endpoint_takes(folder, capsys):
    backend = LocalBackend(folder / "state")
    endpoint = backend.ensure_endpoint("keyed")  # its router alone: no deployment, so no model to answer
    try:
        assert cli.main(["endpoints", "--key", "keyed"]) == 0
        key = capsys.readouterr().out.strip()
        assert key == backend.key("keyed") and "\n" not in key

        def status(token: str) -> int:
            request = urllib.request.Request(endpoint.scoring_uri, data=b"{}", method="POST",
                                             headers={"Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status
            except urllib.error.HTTPError as error:
                return error.code
        assert status(key + "x") == 401 and status(key) != 401  # past the key check (no deployment to answer)
        assert cli.main(["endpoints", "--key", "other"]) == 2
        assert "input 'key' is 'other': no such endpoint in" in capsys.readouterr().out
    finally:
        backend.delete_endpoint("keyed")
