"""Registering a model version, shared by the jobs that do (register-model; deploy-endpoint, for a deployment
file's inline model): a content hash makes it idempotent, and runner tags say where it came from."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mlops_actions import backends, github


def content_hash(path: Path) -> str:
    """sha256 over the file names (the folder's own name first, as a deployment sees it) and bytes: the same
    files, wherever they are, give the same hash."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(file.relative_to(path.parent).as_posix().encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def runner_tags() -> dict[str, str]:
    """Where this version came from, when registered from a workflow run."""
    env = os.environ
    tags = {"git.commit": env.get("GITHUB_SHA", ""), "git.ref": env.get("GITHUB_REF", ""),
            "github.workflow": env.get("GITHUB_WORKFLOW", "")}
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        tags["github.run-url"] = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return {key: value for key, value in tags.items() if value}


def register_once(backend: backends.Backend, name: str, path: Path | str, model_type: str, digest: str,
                  description: str = "", tags: dict[str, str] | None = None, properties: dict[str, str] | None = None
                  ) -> tuple[backends.ModelVersion, bool]:
    """The version of `name` with this content, registered now if there is none; and whether it is new."""
    model = backend.find_model(name, digest)
    if model is not None:
        return model, False
    with github.group(f"Registering {name} from {path} on the {backend.name} backend"):
        return backend.register_model(name, path, model_type, description, {**runner_tags(), **(tags or {})},
                                      properties or {}, digest)
