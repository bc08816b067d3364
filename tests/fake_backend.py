"""An in-memory Backend for unit tests of the jobs: a registry and endpoints in dicts, and every call that changes
something recorded in order (mutation testing needs the jobs' logic run in the test's own process). It fakes this
package's own Backend Protocol (backends/__init__.py), not a service: it enforces no rule of Azure ML's or MLflow's,
so it has no source to cite; the real backends are tested against the Azure ML emulator and a real MLflow registry."""

from __future__ import annotations

import contextlib

from mlops_actions import backends
from mlops_actions.backends import Endpoint, ModelVersion


class FakeBackend:
    name = "fake"

    def __init__(self, traffic: dict[str, int] | None = None, mirror: dict[str, int] | None = None,
                 endpoint: str = "ep"):
        self.models: dict[str, list[ModelVersion]] = {}
        self.endpoints: dict[str, Endpoint] = {}
        if traffic is not None:
            self.endpoints[endpoint] = Endpoint(endpoint, f"http://127.0.0.1/{endpoint}/score", dict(traffic),
                                                {name: f"models:/m/{i + 1}" for i, name in enumerate(traffic)},
                                                dict(mirror or {}))
        self.calls: list[tuple] = []
        self.answers: list[tuple[int, str, str]] = []  # what invoke returns, in turn (the last one repeats)
        self.invoked: list[tuple] = []
        self.limit: int | None = None

    # -- the registry

    def find_model(self, name, content_hash):
        self.calls.append(("find_model", name, content_hash))
        return next((m for m in self.models.get(name, []) if m.tags.get(backends.CONTENT_HASH_TAG) == content_hash),
                    None)

    def register_model(self, name, path, model_type, description, tags, properties, content_hash):
        self.calls.append(("register_model", name, str(path), model_type, description, dict(tags), dict(properties)))
        versions = self.models.setdefault(name, [])
        model = ModelVersion(name, str(len(versions) + 1), f"models:/{name}/{len(versions) + 1}", model_type,
                             {**tags, backends.CONTENT_HASH_TAG: content_hash}, str(path))
        versions.append(model)
        return model, True

    def get_model(self, name, version):
        versions = self.models.get(name, [])
        if version == "latest":
            return versions[-1]
        return next(m for m in versions if m.version == version)

    def find_version(self, name, version):
        return next((m for m in self.models.get(name, []) if m.version == version), None)

    def copy_model(self, source, model, tags):
        self.calls.append(("copy_model", model.uri, dict(tags)))
        self.copied_from = source
        copy = ModelVersion(model.name, model.version, f"models:/{model.name}/{model.version}", model.type, dict(tags))
        self.models.setdefault(model.name, []).append(copy)
        return copy

    def deployed_model(self, endpoint, deployment):
        uri = self.endpoints[endpoint].deployments[deployment]
        return next(m for versions in self.models.values() for m in versions if m.uri == uri)

    # -- endpoints

    @contextlib.contextmanager
    def deploying(self, endpoint):
        self.calls.append(("deploying", endpoint))
        yield

    def get_endpoint(self, name):
        return self.endpoints.get(name)

    def ensure_endpoint(self, name, spec_file=None):
        self.calls.append(("ensure_endpoint", name) + ((spec_file,) if spec_file else ()))
        return self.endpoints.setdefault(name, Endpoint(name, f"http://127.0.0.1/{name}/score", {}, {}))

    def create_deployment(self, spec):
        self.calls.append(("create_deployment", spec.name))
        endpoint = self.endpoints[spec.endpoint]
        endpoint.traffic[spec.name] = 0
        endpoint.deployments[spec.name] = spec.model.uri if spec.model else ""

    def set_traffic(self, endpoint, traffic, mirror=None):
        self.calls.append(("set_traffic", dict(traffic), None if mirror is None else dict(mirror)))
        found = self.endpoints[endpoint]
        found.traffic = {name: traffic.get(name, 0) for name in found.deployments}
        if mirror is not None:
            found.mirror = dict(mirror)

    def delete_deployment(self, endpoint, name):
        self.calls.append(("delete_deployment", name))
        found = self.endpoints[endpoint]
        del found.deployments[name]
        found.traffic.pop(name, None)
        found.mirror.pop(name, None)

    # -- scoring

    def key(self, endpoint):
        assert endpoint in self.endpoints, endpoint
        return "the-key"

    def concurrency_limit(self, endpoint, deployment):
        self.calls.append(("concurrency_limit", endpoint, deployment))
        return self.limit

    def invoke(self, endpoint, body, deployment, key, timeout, extra_headers=None):
        self.invoked.append((endpoint, body, deployment, key, timeout, dict(extra_headers or {})))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
