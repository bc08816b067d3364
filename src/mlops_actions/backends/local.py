"""The local backend: no cloud, one machine (act, a self-hosted runner, a laptop).

Under the state folder:
  mlflow.db                  the MLflow model registry (sqlite)
  models/<name>/<hash>/      each registered version's files (the registry's source), laid out as Azure ML
                             lays out AZUREML_MODEL_DIR: a file at the root, a folder under its own name
  endpoints/<endpoint>/endpoint.json
                             port, key, traffic, mirror, and each deployment's socket, PID and model
  endpoints/<endpoint>/<deployment>/
                             what the deployment's inference server runs from, and its log
  environments/<hash>/       a deployment environment's venv, built from its conda file (environments.py)
Each endpoint is a router process (its stable scoring URI on 127.0.0.1, checking the key) in front of one
Azure inference server process per deployment, each on a unix socket in a folder of this user's alone
(processes.socket_path), so that only the router reaches them; all started detached, so later steps and
jobs find them. The state folder and its files are private to the user (0700, 0600).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import quote
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from mlops_actions import splits
from mlops_actions.backends import (CONTENT_HASH_TAG, Backend, DeploymentSpec, Endpoint, ModelVersion,
                                    environments, processes, registry_uri)
from mlops_actions.github import ActionError

if TYPE_CHECKING:
    from mlflow import MlflowClient

SCORER = Path(__file__).with_name("mlflow_score.py")
ROUTER = "mlops_actions.backends.router"
SERVER = "azureml_inference_server_http.server.entry:app"
START_TIMEOUT = 120.0
PLACEHOLDER_TAG = "mlops-actions.placeholder"  # on a version copy_model has not finished: the number it is for
# All a server (which outlives the job and runs the user's scoring code) gets of the job's environment: an
# allow-list, so that no secret by any name (DB_PASS, GH_PAT, a job's inputs and tokens) reaches it.
SERVER_ENVIRONMENT = re.compile(r"^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LANGUAGE|TZ|TMPDIR|TEMP|TMP|VIRTUAL_ENV|"
                                r"LD_LIBRARY_PATH|SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE|PYTHONHOME|"
                                r"PYTHONUTF8|PYTHONDONTWRITEBYTECODE|OMP_NUM_THREADS|MKL_NUM_THREADS|"
                                r"OPENBLAS_NUM_THREADS|LC_[A-Z]+)$")


def server_marker(deployment: dict) -> str:
    """What only this deployment's server has on its command line (a reused PID will not match)."""
    return f"unix:{deployment['socket']}" if "socket" in deployment else f"127.0.0.1:{deployment['port']}"


class LocalBackend:
    name = "local"

    def __init__(self, state: Path, registry: str = ""):
        self.state = state
        self.registry = registry  # the name of the registry this state is (models alone), else ""
        self._client: MlflowClient | None = None

    @functools.cached_property
    def tracking_uri(self) -> str:
        """Runs and registry, one store: the sqlite database, its path quoted where this SQLAlchemy unquotes the
        path of a URL (2.1 reads "%0A" as a line break; 2.0 takes it as written)."""
        from sqlalchemy.engine import make_url

        database = str(self.state / "mlflow.db")
        unquoted = make_url("sqlite:///%25").database == "%"
        return f"sqlite:///{quote(database) if unquoted else database}"

    def make_state(self) -> None:
        """The state folder, private to this user: it holds endpoint keys and what the endpoints served."""
        self.state.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.state.stat().st_mode & 0o077:
            self.state.chmod(0o700)

    # -- the registry ------------------------------------------------------------------------------

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
            from mlflow import MlflowClient

            self.make_state()
            database = self.state / "mlflow.db"
            if not database.exists() and any((self.state / part).exists() for part in ("models", "endpoints")):
                raise ActionError("Registry missing", f"{database} is gone while {self.state} still has models or "
                                  "endpoints: a new registry would give new models the version numbers of the old "
                                  "ones. Fix: restore mlflow.db, or use a new state-dir (and stop the old endpoints "
                                  "with `mlops-actions endpoints --stop all`).")
            with processes.exclusive(self.state / ".registry.lock"):  # one process creates the schema
                client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
                client.search_registered_models(max_results=1)  # the database is created or migrated by now
            self._client = client
        return self._client

    def _version(self, found) -> ModelVersion:
        uri = registry_uri(self.registry, found.name, str(found.version)) if self.registry else \
            f"models:/{found.name}/{found.version}"
        return ModelVersion(found.name, str(found.version), uri,
                            found.tags.get("mlops-actions.model-type", "mlflow_model"), dict(found.tags), found.source)

    def _where(self) -> str:
        return f"registry {self.registry} ({self.state})" if self.registry else f"the local registry {self.state}"

    def _versions(self, name: str, condition: str = "") -> list:
        """The model's versions (that meet `condition`), but for a placeholder copy_model left when interrupted."""
        found = self.client.search_model_versions(f"name='{name}'{condition}")
        return [version for version in found if PLACEHOLDER_TAG not in version.tags]

    def find_model(self, name: str, content_hash: str) -> ModelVersion | None:
        found = self._versions(name, f" and tag.`{CONTENT_HASH_TAG}`='{content_hash}'")
        return self._version(min(found, key=lambda v: int(v.version))) if found else None

    def register_model(self, name: str, path: Path | str, model_type: str, description: str, tags: dict[str, str],
                       properties: dict[str, str], content_hash: str) -> tuple[ModelVersion, bool]:
        """Register a version; returns it and whether it is new (not the same files registered before). `path` is a
        folder or a file (an azureml:// URI never comes here: register-model refuses it on this backend)."""
        path = Path(path)

        def laid_out(partial: Path) -> None:
            """As Azure ML lays out AZUREML_MODEL_DIR: a file at its root, a folder under its own name."""
            partial.mkdir(parents=True)
            if path.is_file():
                shutil.copy2(path, partial / path.name)
            else:
                shutil.copytree(path, partial / path.name)

        with self.lock():
            existing = self.find_model(name, content_hash)  # again, now that no one else registers
            if existing:
                return existing, False
            stored = self._stored(name, content_hash)
            self._store(stored, laid_out)
            self._name_model(name)
            created = self.client.create_model_version(
                name, source=str(stored), description=description or None,
                tags={**tags, **{f"property.{k}": v for k, v in properties.items()}, CONTENT_HASH_TAG: content_hash,
                      "mlops-actions.model-type": model_type})
        return self._version(created), True

    def _stored(self, name: str, content_hash: str) -> Path:
        """Where a version's files are kept: one folder per name and content."""
        return self.state / "models" / name / content_hash[:16]

    @staticmethod
    def _store(stored: Path, fill: Callable[[Path], object]) -> None:
        """Write the files once: `fill` writes them into a partial folder, renamed into place, so a copy cut short
        leaves only the partial one, which the next replaces."""
        if not stored.exists():
            partial = stored.with_suffix(".partial")
            shutil.rmtree(partial, ignore_errors=True)
            fill(partial)
            partial.rename(stored)

    def _name_model(self, name: str) -> None:
        """The registered model the versions belong to, created the first time."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    def get_model(self, name: str, version: str) -> ModelVersion:
        versions = self._versions(name)
        if version == "latest" and versions:
            return self._version(max(versions, key=lambda v: int(v.version)))
        for found in versions:
            if str(found.version) == version:
                return self._version(found)
        have = ", ".join(sorted((str(v.version) for v in versions), key=int)) or "none"
        raise ActionError("Model not found", f"model {name} version {version} is not in {self._where()} "
                          f"(versions: {have}). Fix: register it first with register-model, or "
                          "give an existing model-version.")

    def find_version(self, name: str, version: str) -> ModelVersion | None:
        return next((self._version(v) for v in self._versions(name) if str(v.version) == version), None)

    def copy_model(self, source: Backend, model: ModelVersion, tags: dict[str, str]) -> ModelVersion:
        """Register the files of `model` here as the same version of the same name. MLflow numbers versions itself
        (the highest ever given, deleted ones included, plus one): the numbers below the version are taken by
        placeholders, deleted at once, as a registry that skipped them would have. Each version is created as a
        placeholder (PLACEHOLDER_TAG: the number it is for, no other tag): the copy's tags come once it has its
        number, the mark goes last. A copy cut short leaves placeholders: the next copy deletes those numbered
        below what they were for, finishes its own if it holds the same files, and leaves the others, which hold
        numbers their copies need (MLflow never gives a number twice)."""
        files = Path(model.path)
        digest = model.tags[CONTENT_HASH_TAG]
        stored = self._stored(model.name, digest)
        with self.lock():
            created = None
            for left in self.client.search_model_versions(f"name='{model.name}'"):
                meant = left.tags.get(PLACEHOLDER_TAG)
                if meant is not None and str(left.version) != meant:  # numbered on the way to another
                    self.client.delete_model_version(model.name, left.version)
                elif meant == model.version and left.source == str(stored):
                    created = left
            if self.find_version(model.name, model.version) or self.find_model(model.name, digest):
                raise ActionError("Promotion raced", f"{model.name} version {model.version} was registered in "
                                  f"{self._where()} while this step ran. Fix: run it again.")
            self._store(stored, lambda partial: shutil.copytree(files, partial, symlinks=True))
            self._name_model(model.name)
            while created is None or int(created.version) < int(model.version):
                if created is not None:
                    self.client.delete_model_version(model.name, created.version)
                created = self.client.create_model_version(model.name, source=str(stored),
                                                           tags={PLACEHOLDER_TAG: model.version})
            if str(created.version) != model.version:  # a higher version was given once, then deleted
                self.client.delete_model_version(model.name, created.version)
                raise ActionError("Version taken", f"{model.name} version {model.version} cannot be registered in "
                                  f"{self._where()}: version {created.version} was the next free one (a version "
                                  f"numbered {model.version} or higher existed there once). Nothing was copied.")
            for key, value in {**tags, "mlops-actions.model-type": model.type, CONTENT_HASH_TAG: digest}.items():
                self.client.set_model_version_tag(model.name, model.version, key, value)
            self.client.delete_model_version_tag(model.name, model.version, PLACEHOLDER_TAG)
        return self.get_model(model.name, model.version)

    # -- endpoints ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One change at a time to this state folder, across processes."""
        self.make_state()
        with processes.exclusive(self.state / ".lock"):
            yield

    @contextlib.contextmanager
    def deploying(self, endpoint: str) -> Iterator[None]:
        """One deploy at a time to an endpoint, across processes: a second waits, then deploys beside what the
        first left live."""
        self.make_state()
        with processes.exclusive(self.state / f".deploy-{endpoint}.lock"):
            yield

    def _folder(self, endpoint: str) -> Path:
        return self.state / "endpoints" / endpoint

    def _read(self, endpoint: str) -> dict | None:
        path = self._folder(endpoint) / "endpoint.json"
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
            if not isinstance(record, dict) or not {"name", "port", "key", "deployments"} <= set(record):
                raise ValueError("not an endpoint record")
            return record
        except ValueError as error:
            raise ActionError("Endpoint record corrupt", f"{path} cannot be read ({error}). Fix: `mlops-actions "
                              f"endpoints --stop {endpoint}` stops what it ran, then deploy it again.") from None

    def _existing(self, endpoint: str) -> dict:
        """The record of an endpoint the caller found or made (ensure_endpoint, get_endpoint): gone only if it was
        stopped meanwhile (`mlops-actions endpoints --stop`)."""
        record = self._read(endpoint)
        if record is None:
            raise ActionError("Endpoint not found", f"endpoint {endpoint} is not in {self.state}: it was stopped "
                              "while this step ran, or never deployed. Fix: deploy it (again) with deploy-endpoint.")
        return record

    def _write(self, record: dict) -> None:
        path = self._folder(record["name"]) / "endpoint.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:  # it holds the key
            out.write(json.dumps(record, indent=2))
        partial.replace(path)  # atomic: the router never reads half a file

    def _endpoint(self, record: dict) -> Endpoint:
        return Endpoint(record["name"], f"http://127.0.0.1:{record['port']}/score", dict(record["traffic"]),
                        {name: d["model"] for name, d in record["deployments"].items()},
                        dict(record.get("mirror") or {}))

    def get_endpoint(self, name: str) -> Endpoint | None:
        record = self._read(name)
        return self._endpoint(record) if record else None

    def deployed_model(self, endpoint: str, deployment: str) -> ModelVersion:
        uri = self._existing(endpoint)["deployments"][deployment]["model"]  # models:/<name>/<version>
        name, version = uri.removeprefix("models:/").rsplit("/", 1)
        return self.get_model(name, version)

    def ensure_endpoint(self, name: str, spec_file: Path | None = None) -> Endpoint:
        """Create the endpoint if it does not exist; (re)start its router if it is not running."""
        with self.lock():
            record = self._read(name) or {"name": name, "port": processes.free_port(), "key": secrets.token_urlsafe(32),
                                          "traffic": {}, "deployments": {}, "router_pid": None}
            folder = self._folder(name)
            if not processes.alive(record["router_pid"], str(folder / "endpoint.json")):
                self._write(record)
                package_root = str(Path(__file__).resolve().parents[2])  # where this package is importable from
                router = processes.start([sys.executable, "-m", ROUTER, str(folder / "endpoint.json")],
                                         folder / "router.log", folder, self._child_env(PYTHONPATH=package_root))
                record["router_pid"] = router.pid
                self._write(record)
                if not processes.wait_healthy(f"http://127.0.0.1:{record['port']}/", router, 30):
                    raise ActionError("Endpoint did not start", f"the router of endpoint {name} did not start:\n"
                                      + processes.tail(folder / "router.log"))
            return self._endpoint(record)

    def _child_env(self, **extra: str) -> dict[str, str]:
        """The environment of a process this backend starts: this one without the job's secrets and inputs, plus
        `extra`."""
        kept = {name: value for name, value in os.environ.items() if SERVER_ENVIRONMENT.match(name)}
        return {**kept, "MLFLOW_DISABLE_TELEMETRY": "true", **extra}

    def _server_env(self, python: Path, **extra: str) -> dict[str, str]:
        """A server's environment; one that runs in a deployment environment's venv has its bin first on PATH and
        none of the runner's packages."""
        if python == Path(sys.executable):
            return self._child_env(**extra)
        venv = python.parent.parent
        return self._child_env(**extra, VIRTUAL_ENV=str(venv),
                               PATH=os.pathsep.join([str(venv / "bin"), os.environ.get("PATH", "")]))

    def create_deployment(self, spec: DeploymentSpec) -> None:
        """Start an inference server for `spec` at 0% traffic, in its environment's venv when it has a conda file;
        nothing is left behind if it fails."""
        assert spec.model is not None, "deploy-endpoint deploys a model it has found"
        self.make_state()
        python = environments.ensure(spec.conda_environment, self.state) if spec.conda_environment \
            else Path(sys.executable)  # built before anything is touched: a failed build changes nothing
        with self.lock():
            record = self._existing(spec.endpoint)
            if record["traffic"].get(spec.name, 0) > 0:
                raise ActionError("Deployment is live", f"deployment {spec.name} takes {record['traffic'][spec.name]}% "
                                  f"of endpoint {spec.endpoint}'s traffic; deploy under another name (leave "
                                  "deployment-name empty to pick blue/green automatically).")
            self._remove(record, spec.name)
            self._write(record)  # the old deployment of that name is gone, whatever happens next
            folder = self._folder(spec.endpoint) / spec.name
            code = folder / "code"
            if spec.code_path:
                shutil.copytree(spec.code_path, code)
                script = code / spec.scoring_script
            else:
                code.mkdir(parents=True)
                script = Path(shutil.copy2(SCORER, code / "score.py"))
            sock, log = processes.socket_path(str(self.state), spec.endpoint, spec.name), folder / "server.log"
            sock.unlink(missing_ok=True)  # a stale socket of a server that is gone
            env = self._server_env(python, **{**spec.environment_variables, "AZUREML_MODEL_DIR": spec.model.path,
                                              "AZUREML_ENTRY_SCRIPT": str(script), "PYTHONPATH": str(code)})
            # -n: where setproctitle is installed gunicorn retitles its processes "gunicorn: master [<name>]", and
            # the name keeps what alive() and stop() look for on the command line
            server = processes.start([str(python), "-m", "gunicorn", "-b", f"unix:{sock}", "-n", f"unix:{sock}",
                                      *environments.gunicorn_options(python), "-w", str(spec.instance_count),
                                      "--timeout", "300", SERVER], log, code, env)
            started = time.monotonic()
            record["deployments"][spec.name] = {"socket": str(sock), "pid": server.pid, "model": spec.model.uri,
                                                "instance_count": spec.instance_count,
                                                "instance_type": spec.instance_type or "local", "state": "starting",
                                                **spec.request_settings}
            record["traffic"][spec.name] = 0
            self._write(record)  # recorded before it is waited for: `endpoints --stop` finds what an interrupted
            try:  # deploy left, and an interruption here stops it at once
                healthy = processes.wait_healthy(f"unix:{sock}", server, START_TIMEOUT)
            except BaseException:
                self._remove(record, spec.name)
                self._write(record)
                raise
            if not healthy:
                ended = server.poll()
                how = f"exited with code {ended} after {time.monotonic() - started:.1f} s" if ended is not None \
                    else f"did not answer within {START_TIMEOUT:.0f} s"
                details = processes.tail(log)
                self._remove(record, spec.name)
                self._write(record)
                raise ActionError("Deployment failed", f"the inference server for {spec.model.uri} {how}; nothing "
                                  f"was deployed and traffic is unchanged. Its log ends with:\n{details}")
            record["deployments"][spec.name]["state"] = "ready"
            self._write(record)

    def set_traffic(self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int] | None = None) -> None:
        """Replace the endpoint's traffic split (deployments left out get 0%) and, when given, its mirrored
        traffic; a deployment given live traffic is mirrored to no longer. A router that died is restarted."""
        self.ensure_endpoint(endpoint)
        with self.lock():
            record = self._existing(endpoint)
            record["traffic"] = {name: traffic.get(name, 0) for name in record["deployments"]}
            kept = (record.get("mirror") or {}) if mirror is None else mirror
            record["mirror"] = splits.mirror_beside(traffic, kept)
            self._write(record)

    def delete_deployment(self, endpoint: str, name: str) -> None:
        with self.lock():
            record = self._existing(endpoint)
            self._remove(record, name)
            self._write(record)

    def _remove(self, record: dict, name: str) -> None:
        deployment = record["deployments"].pop(name, None)
        record["traffic"].pop(name, None)
        (record.get("mirror") or {}).pop(name, None)
        if deployment:
            processes.stop(deployment["pid"], server_marker(deployment))
        shutil.rmtree(self._folder(record["name"]) / name, ignore_errors=True)

    def delete_endpoint(self, name: str) -> None:
        """Stop the endpoint's servers and forget it (with a corrupt record: every process that runs from its
        folder)."""
        with self.lock():
            try:
                record = self._read(name)
            except ActionError:
                processes.stop_all_under(self._folder(name))
                shutil.rmtree(self._folder(name), ignore_errors=True)
                return
            if not record:
                return
            for deployment in list(record["deployments"]):
                self._remove(record, deployment)
            processes.stop(record["router_pid"], str(self._folder(name) / "endpoint.json"))
            shutil.rmtree(self._folder(name), ignore_errors=True)

    def endpoints(self) -> list[str]:
        return sorted(path.parent.name for path in (self.state / "endpoints").glob("*/endpoint.json"))

    # -- scoring -----------------------------------------------------------------------------------

    def key(self, endpoint: str) -> str:
        return self._existing(endpoint)["key"]

    def concurrency_limit(self, endpoint: str, deployment: str | None) -> None:
        """The local router admits any number of requests at once."""
        return None

    def invoke(self, endpoint: str, body: bytes, deployment: str | None, key: str, timeout: float,
               extra_headers: dict[str, str] | None = None) -> tuple[int, str, str]:
        """POST `body` to the endpoint's scoring URI; returns (status, text, answering deployment)."""
        extra_headers = extra_headers or {}
        request = urllib.request.Request(self._endpoint(self._existing(endpoint)).scoring_uri, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {key}", **extra_headers,
                                                  **({"azureml-model-deployment": deployment} if deployment else {})})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode(errors="replace"), \
                    response.headers.get("azureml-model-deployment", "")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace"), error.headers.get("azureml-model-deployment", "")
        except OSError as error:  # refused, reset, timed out: no HTTP answer at all
            return 0, f"no answer: {error}", ""
