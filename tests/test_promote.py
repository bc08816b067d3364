"""Promotion on the local backend: a workspace per environment (state-dir/workspaces/<name>) and a registry of
its own (state-dir/registries/<name>); promote-model copies a version between them, idempotent by content hash."""

import json
from pathlib import Path

import pytest

from conftest import as_runner
from mlops_actions import deploy, promote, register
from mlops_actions.backends import CONTENT_HASH_TAG
from mlops_actions.backends.local import LocalBackend
from mlops_actions.github import ActionError
from mlops_actions.inputs import InputError, Inputs


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One state for the module (each MLflow database takes seconds to create) and two models' files (custom
    models: what is copied is files, whatever they are)."""
    folder = tmp_path_factory.mktemp("promotion")
    for version, weights in (("v1", "1 2 3"), ("v2", "4 5 6")):
        (folder / version).mkdir()
        (folder / version / "weights.txt").write_text(weights)
    return folder


@pytest.fixture
def lab(shared, tmp_path, monkeypatch, request):
    """The shared state, as a runner whose workspace holds the models; a model name of this test's own."""
    runner = as_runner(monkeypatch, tmp_path, shared)
    return {"state": shared / "state", "runner": runner, "v1": shared / "v1", "v2": shared / "v2",
            "name": request.node.originalname.removeprefix("test_")[:40].strip("_-")}


def call(job, lab, **flags):
    flags = {"model-type": "custom_model", **flags} if job is register else flags
    lab["runner"].output_file.unlink(missing_ok=True)  # this call's outputs alone
    assert job.run(Inputs.read(job.INPUTS, {"state-dir": str(lab["state"]), **flags}, environ={})) == 0
    return lab["runner"].outputs()


def files(folder: str) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}


def versions(lab, where: str, name: str = "") -> dict[str, str]:
    """The versions of the test's model (or `name`) in a workspace or registry, and their content hashes."""
    backend = LocalBackend(lab["state"] / where)
    return {str(v.version): v.tags[CONTENT_HASH_TAG]
            for v in backend.client.search_model_versions(f"name='{name or lab['name']}'")}


def test_a_version_is_copied_into_production_with_its_number_files_and_tags_then_found_again(lab):
    call(register, lab, **{"model-name": lab["name"], "model-path": str(lab["v1"]), "workspace": "staging"})
    staged = call(register, lab, **{"model-name": lab["name"], "model-path": str(lab["v2"]), "workspace": "staging",
                                    "tags": "{team: risk}"})
    assert staged["model-version"] == "2" and staged["model-uri"] == f"models:/{lab['name']}/2"
    assert not (lab["state"] / "mlflow.db").exists()  # each workspace its own state; none in state-dir itself

    flags = {"model-name": lab["name"], "model-version": "2", "from-workspace": "staging", "workspace": "production"}
    promoted = call(promote, lab, **flags)
    assert promoted == {"model-name": lab["name"], "model-version": "2", "model-uri": f"models:/{lab['name']}/2",
                        "already-promoted": "false"}
    source = LocalBackend(lab["state"] / "workspaces" / "staging").get_model(lab["name"], "2")
    copy = LocalBackend(lab["state"] / "workspaces" / "production").get_model(lab["name"], "2")
    assert copy.tags[CONTENT_HASH_TAG] == source.tags[CONTENT_HASH_TAG]
    assert copy.tags["team"] == "risk" and copy.type == "custom_model"
    assert copy.tags[promote.PROMOTED_FROM_TAG] == f"workspace staging: models:/{lab['name']}/2"
    assert copy.path != source.path and files(copy.path) == files(source.path)
    assert versions(lab, "workspaces/production") == {"2": source.tags[CONTENT_HASH_TAG]}  # no placeholder left

    again = call(promote, lab, **flags)
    assert again["model-version"] == "2" and again["already-promoted"] == "true"
    assert list(versions(lab, "workspaces/production")) == ["2"]  # nothing registered twice
    assert "was already in workspace production" in lab["runner"].summary()


def test_a_version_whose_content_differs_in_the_target_is_refused_and_nothing_is_copied(lab):
    for path in ("v1", "v2"):
        call(register, lab, **{"model-name": lab["name"], "model-path": str(lab[path]), "workspace": "staging"})
    call(register, lab, **{"model-name": lab["name"], "model-path": str(lab["v1"]), "workspace": "production"})
    call(register, lab, **{"model-name": lab["name"], "model-path": str(lab["v1"]) + "/weights.txt",
                           "workspace": "production"})  # version 2 with other files than staging's version 2
    before = versions(lab, "workspaces/production")
    with pytest.raises(ActionError, match=f"{lab['name']} version 2 in workspace production holds other files .* "
                                          "Nothing "
                                          "was copied"):
        call(promote, lab, **{"model-name": lab["name"], "model-version": "2", "from-workspace": "staging",
                              "workspace": "production"})
    assert versions(lab, "workspaces/production") == before
    # version 1's files are production's version 1 already: found by their hash, not copied
    found = call(promote, lab, **{"model-name": lab["name"], "model-version": "1", "from-workspace": "staging",
                                  "workspace": "production"})
    assert found["already-promoted"] == "true" and found["model-version"] == "1"


def test_registered_once_into_a_registry_and_deployed_from_its_reference(lab):
    first = call(register, lab, **{"model-name": lab["name"], "model-path": str(lab["v1"]), "registry": "shared"})
    assert first["model-uri"] == f"azureml://registries/shared/models/{lab['name']}/versions/1"
    assert (lab["state"] / "registries" / "shared" / "mlflow.db").is_file()
    assert call(register, lab, **{"model-name": lab["name"], "model-path": str(lab["v1"]), "registry": "shared"}
                )["already-registered"] == "true"
    # the reference, as deploy-endpoint takes it, names the registry's version (nothing in any workspace)
    inputs = Inputs.read(deploy.INPUTS, {"state-dir": str(lab["state"]), "endpoint-name": "diabetes-stg",
                                         "model-name": first["model-uri"], "workspace": "staging"}, environ={})
    deploy.plan(inputs)
    assert (inputs["registry"], inputs["model-name"], inputs["model-version"]) == ("shared", lab["name"], "1")


def test_a_workspace_version_is_promoted_into_a_registry_and_from_it(lab):
    call(register, lab, **{"model-name": lab["name"], "model-path": str(lab["v2"]), "workspace": "staging"})
    shared = call(promote, lab, **{"model-name": lab["name"], "model-version": "1", "from-workspace": "staging",
                                   "registry": "shared"})
    assert shared["model-uri"] == f"azureml://registries/shared/models/{lab['name']}/versions/1"
    into = call(promote, lab, **{"model-name": shared["model-uri"], "workspace": "production"})
    assert into["model-uri"] == f"models:/{lab['name']}/1" and into["already-promoted"] == "false"
    tags = LocalBackend(lab["state"] / "workspaces" / "production").get_model(lab["name"], "1").tags
    assert tags[promote.PROMOTED_FROM_TAG] == \
        f"registry shared: azureml://registries/shared/models/{lab['name']}/versions/1"


@pytest.mark.parametrize("flags, message", [
    ({"model-name": "azureml://registries/shared/models/diabetes/versions/latest"},
     "input 'model-name' is 'azureml://registries/shared/models/diabetes/versions/latest': not a registry model "
     "reference. Fix: write azureml://registries/<registry>/models/<name>/versions/<version>"),
    ({"model-name": "diabetes", "model-version": "1", "from-workspace": "production", "workspace": "production"},
     "input 'from-workspace' is 'production': the place the version is promoted into (workspace production)"),
    ({"model-name": "diabetes", "model-version": "latest", "from-workspace": "staging", "workspace": "production"},
     "input 'model-version' is 'latest': not a version number"),
    ({"model-name": "diabetes", "model-version": "1", "from-workspace": "../x", "workspace": "production"},
     "input 'from-workspace' is '../x': not a valid workspace name"),
    ({"model-name": "diabetes", "model-version": "1", "from-workspace": "staging", "registry": "a/b"},
     "input 'registry' is 'a/b': not a valid Azure ML registry name"),
])
def test_bad_promotion_input_is_one_clear_error(lab, flags, message):
    with pytest.raises(InputError) as caught:
        call(promote, lab, **flags)  # nothing registered "diabetes" in this module
    assert message in str(caught.value)
    assert versions(lab, "workspaces/production", "diabetes") == {}


def test_a_version_not_in_the_source_is_not_found_and_nothing_is_made(lab):
    call(register, lab, **{"model-name": lab["name"], "model-path": str(lab["v1"]), "workspace": "staging"})
    with pytest.raises(ActionError, match=rf"model {lab['name']} version 7 is not in the local registry .*staging"):
        call(promote, lab, **{"model-name": lab["name"], "model-version": "7", "from-workspace": "staging",
                              "workspace": "production"})
    assert versions(lab, "workspaces/production") == {}
    with pytest.raises(ActionError, match=r"workspace nowhere has no models \(no registry in .*\). Fix: register"):
        call(promote, lab, **{"model-name": lab["name"], "model-version": "1", "from-workspace": "nowhere",
                              "workspace": "production"})
    assert not (lab["state"] / "workspaces" / "nowhere").exists()  # a read creates nothing


def test_the_promoted_version_keeps_its_number_above_a_gap(lab):
    """Production has version 1 (its own); staging's version 3 arrives as 3, not 2."""
    for path in ("v1", "v2"):
        call(register, lab, **{"model-name": lab["name"], "model-path": str(lab[path]), "workspace": "staging"})
    call(register, lab, **{"model-name": lab["name"], "model-path": str(lab["v1"]) + "/weights.txt",
                           "workspace": "staging"})
    call(register, lab, **{"model-name": lab["name"], "model-path": str(lab["v1"]), "workspace": "production"})
    promoted = call(promote, lab, **{"model-name": lab["name"], "model-version": "3", "from-workspace": "staging",
                                     "workspace": "production"})
    assert promoted["model-version"] == "3"
    assert sorted(versions(lab, "workspaces/production")) == ["1", "3"]
    assert json.dumps(versions(lab, "workspaces/production")["3"]) == \
        json.dumps(versions(lab, "workspaces/staging")["3"])


def test_register_model_takes_a_registrys_version_and_copies_it_once(lab):
    shared = call(register, lab, **{"model-name": lab["name"], "model-path": str(lab["v2"]), "registry": "shared",
                                    "tags": "{team: risk}"})
    flags = {"model-name": lab["name"], "model-path": shared["model-uri"], "workspace": "production"}
    copied = call(register, lab, **flags)
    assert copied == {"model-name": lab["name"], "model-version": "1", "model-uri": f"models:/{lab['name']}/1",
                      "already-registered": "false"}
    tags = LocalBackend(lab["state"] / "workspaces" / "production").get_model(lab["name"], "1").tags
    assert tags["team"] == "risk" and tags[promote.PROMOTED_FROM_TAG] == f"registry shared: {shared['model-uri']}"
    assert call(register, lab, **flags)["already-registered"] == "true"
    assert list(versions(lab, "workspaces/production")) == ["1"]
    with pytest.raises(InputError, match="a registry reference to 'other' version 1, not to"):
        call(register, lab, **{**flags, "model-path": "azureml://registries/shared/models/other/versions/1"})


@pytest.mark.parametrize("cut", ["delete_model_version", "set_model_version_tag", "delete_model_version_tag"])
def test_a_promotion_cut_short_is_finished_by_the_next_with_no_placeholder_taken_for_the_model(lab, monkeypatch, cut):
    """Killed while it numbers placeholders, tags the copy or unmarks it: no version is taken for the copy, and
    running the step again finishes it."""
    lab["name"] = f"cut-at-{cut}"  # a model of each case's own in the module's state
    for path in ("v1", "v2"):
        call(register, lab, **{"model-name": lab["name"], "model-path": str(lab[path]), "workspace": "staging"})
    source = LocalBackend(lab["state"] / "workspaces" / "staging").get_model(lab["name"], "2")
    target = LocalBackend(lab["state"] / "workspaces" / "production")

    def killed(*args):
        raise KeyboardInterrupt
    flags = {"model-name": lab["name"], "model-version": "2", "from-workspace": "staging", "workspace": "production"}
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(type(target.client), cut, killed)
        call(promote, lab, **flags)
    assert target.find_model(lab["name"], source.tags[CONTENT_HASH_TAG]) is None
    with pytest.raises(ActionError, match="is not in"):
        target.get_model(lab["name"], "latest")

    finished = call(promote, lab, **flags)
    assert finished["model-version"] == "2" and finished["already-promoted"] == "false"
    assert versions(lab, "workspaces/production") == {"2": source.tags[CONTENT_HASH_TAG]}  # no placeholder left
    copy = target.get_model(lab["name"], "2")
    assert promote.PROMOTED_FROM_TAG in copy.tags and "mlops-actions.placeholder" not in copy.tags
