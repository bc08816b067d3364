"""Versioned assets (models, code, environments, data), the workspace's datastores, computes and schedules.

Sources:
- Model versions: "For models, only description and tags can be updated. All other properties are immutable"
  (learn.microsoft.com/azure/machine-learning/how-to-manage-models); a changed path is refused with
  "(UserError) Asset paths cannot be updated." (the message azure-ai-ml's _artifacts/_constants.py
  ASSET_PATH_ERROR matches, "service side raises an exception if we attempt to update an existing asset's
  path", operations/_model_operations.py). nextVersion is "The next auto incremental version" of the
  container (REST spec, AssetContainer). Name pattern ^[a-zA-Z0-9][a-zA-Z0-9\\-_]{0,254}$ (REST spec path).
- Recordings (Azure/azure-sdk-assets, python/sdk/ml/azure-ai-ml/tests/recordings/): model/...test_crud_file
  and ...test_models_get_latest_label: listing the versions of a model that does not exist is a 404
  ModelNotFound; a new version is 201 with a Location, the same version again 200; the datastore
  workspaceblobstore {datastoreType AzureBlob, credentials AccountKey, containerName
  azureml-blobstore-{workspace id}, endpoint core.windows.net, protocol https}; listSecrets with
  {expirableSecret: true} answers {secretsType: Sas, sasToken: "?sv=..."}, without a body {secretsType:
  AccountKey, key}. code_asset/...test_create_and_get: code is looked up by hash
  (codes/{name}/versions?hash=&hashVersion=), startPendingUpload answers a SAS for a container of its own
  (blobUri https://{account}.blob.core.windows.net:443/{workspace id}-{random}), the version PUT is 201.
  online_services/...test_online_deployment: the anonymous environment PUT is 201.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from azure.ai.ml._restclient.arm_ml_service import models as rest

from azureml_emulator.arm import ARM, ArmError, bad_request, not_found, now

ASSET_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$")
BLOB_URI = re.compile(r"^https://(?P<account>[^./]+)\.blob\.core\.windows\.net(:443)?/(?P<container>[^/?]+)/?"
                      r"(?P<prefix>[^?]*)")
DATASTORE_URI = re.compile(r"^azureml://(subscriptions/[^/]+/resource[gG]roups/[^/]+/(providers/"
                           r"Microsoft\.MachineLearningServices/)?workspaces/[^/]+/)?datastores/(?P<store>[^/]+)/paths/"
                           r"(?P<prefix>.*)$")
JOB_OUTPUT_URI = re.compile(r"^azureml://jobs/(?P<job>[^/]+)/outputs/(?P<output>[^/]+)(/paths/(?P<rest>.*))?$")


def model_container(asset_id: str, owner: str, name: str, versions: dict) -> dict:
    """A model container as a workspace's or a registry's (`owner`) GET answers it: its latest and next version."""
    numbers = [int(v) for v in versions if v.isdigit()]
    return {"id": asset_id, "name": name, "type": f"Microsoft.MachineLearningServices/{owner}/models",
            "properties": {"latestVersion": str(max(numbers)) if numbers else None,
                           "nextVersion": str(max(numbers, default=0) + 1), "isArchived": False}}


class AssetService:
    """The mixin of the emulator for assets and datastores."""

    def _asset_state(self) -> None:
        self.models: dict[str, dict[str, dict]] = {}  # name -> {version: resource}
        self.codes: dict[str, dict[str, dict]] = {}
        self.environments: dict[str, dict] = {}  # kind/name:version -> resource (environments, data)
        self.schedules: dict[str, dict] = {}
        self.blob_container = f"azureml-blobstore-{self.workspace_guid}"
        self.artifact_container = "azureml"
        if self.storage:  # the artifact store's container is "azureml" in every workspace: emulators share it
            from azure.core.exceptions import ResourceExistsError

            service = self.storage.service()
            for container in (self.blob_container, self.artifact_container):
                try:
                    service.create_container(container)
                except ResourceExistsError:
                    pass

    # -- blob storage ------------------------------------------------------------------------------

    def datastores(self) -> dict[str, str]:
        return {"workspaceblobstore": self.blob_container, "workspaceartifactstore": self.artifact_container}

    def blob_location(self, uri: str) -> tuple[str, str] | None:
        """(container, prefix) of an asset's URI in the workspace's storage, None when it is elsewhere."""
        if match := DATASTORE_URI.match(uri):
            container = self.datastores().get(match["store"])
            return (container, match["prefix"].strip("/")) if container else None
        if match := JOB_OUTPUT_URI.match(uri):
            parts = [f"azureml/{match['job']}/{match['output']}", (match["rest"] or "").strip("/")]
            return self.blob_container, "/".join(filter(None, parts))
        if (match := BLOB_URI.match(uri)) and self.storage and match["account"] == self.storage.account:
            return match["container"], match["prefix"].strip("/")
        return None

    def download(self, uri: str, into: Path) -> list[str]:
        """Copy the blobs under an asset's URI into `into` (keeping the last segment of the path, as Azure
        mounts a registered folder under its name); returns the files copied."""
        location = self.blob_location(uri) if self.storage else None
        if location is None:
            return []
        container, prefix = location
        client = self.storage.service().get_container_client(container)
        name, copied = Path(prefix).name, []
        for blob in client.list_blobs(name_starts_with=prefix):
            if blob.name == prefix:  # a single file
                relative = name
            elif not prefix or blob.name.startswith(prefix + "/"):
                relative = "/".join(filter(None, [name, blob.name[len(prefix):].lstrip("/")]))
            else:
                continue  # a sibling whose name starts with the same characters
            target = into / relative
            if not target.resolve().is_relative_to(into.resolve()):
                continue  # a blob name with ../ in it stays in storage
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(client.download_blob(blob.name).readall())
            copied.append(relative)
        return copied

    def upload_folder(self, folder: Path, container: str, prefix: str) -> int:
        client = self.storage.service().get_container_client(container)
        count = 0
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                client.upload_blob(f"{prefix}/{path.relative_to(folder).as_posix()}", path.read_bytes(), overwrite=True)
                count += 1
        return count

    # -- models ------------------------------------------------------------------------------------

    def route_models(self, method, parts, query, body):
        if len(parts) == 1 and method == "GET":  # the model containers
            return 200, {"value": [self.route_models("GET", ["models", name], {}, {})[1] for name in self.models]}, {}
        name = parts[1] if len(parts) > 1 else ""
        versions = self.models.get(name)
        if len(parts) == 2 and method == "GET":
            if not versions:
                raise not_found(f"Model container with name: {name} not found.", "ModelNotFound")
            return 200, model_container(f"{self.ws_id}/models/{name}", "workspaces", name, versions), {}
        if len(parts) == 3 and method == "GET":
            if not versions:
                raise not_found(f"Model container with name: {name} not found.", "ModelNotFound")
            return 200, {"value": self.ordered(versions.values(), query)}, {}
        if len(parts) != 4:
            raise not_found(f"route models/{'/'.join(parts[1:])}")
        version = parts[3]
        if method == "GET":
            if not versions or version not in versions:
                raise not_found(f"Model {name}:{version} not found.", "ModelNotFound")
            return 200, versions[version], {}
        if method == "PUT":
            if not ASSET_NAME.match(name):
                raise bad_request(f"Model name '{name}' is invalid: it must match {ASSET_NAME.pattern}.")
            body = self.check(rest.ModelVersion, body, "model version")
            return self.put_version(self.models, "models", name, version, body, "modelUri")
        raise not_found(f"{method} models/{name}/versions/{version}")

    def ordered(self, resources, query) -> list[dict]:
        """A version list, newest first (as $orderBy=createdtime desc asks), cut at $top."""
        found = sorted(resources, key=lambda r: r["systemData"]["createdAt"], reverse=True)
        if "hash" in query:
            found = [r for r in found if r["properties"].get("properties", {}).get("hash_sha256") == query["hash"][0]]
        return found[:int(query["$top"][0])] if "$top" in query else found

    def put_version(self, store: dict, kind: str, name: str, version: str, body: dict, path_key: str):
        """Create a version (201), or update an existing one's description and tags (200); its path never
        changes."""
        properties = body.get("properties", {})
        existing = store.get(name, {}).get(version)
        location = {"Location": f"{ARM}{self.ws_id}/{kind}/{name}/versions/{version}?api-version=2023-08-01-preview"}
        if existing:
            if properties.get(path_key) and not same_path(properties[path_key], existing["properties"][path_key]):
                raise ArmError(400, "Asset paths cannot be updated.")
            existing["properties"].update(description=properties.get("description"),
                                          tags=properties.get("tags") or {})
            existing["systemData"]["lastModifiedAt"] = now()
            return 200, existing, {}
        resource = {"id": f"{self.ws_id}/{kind}/{name}/versions/{version}", "name": version,
                    "type": f"Microsoft.MachineLearningServices/workspaces/{kind}/versions",
                    "properties": {"description": None, "tags": {}, "properties": {}, "isArchived": False,
                                   "isAnonymous": False, **properties, "provisioningState": "Succeeded"},
                    "systemData": {"createdAt": now(), "createdBy": "emulator", "createdByType": "User",
                                   "lastModifiedAt": now()}}
        if kind == "models":
            resource["properties"].setdefault("flavors", {})
            resource["properties"].update(jobName=None, stage="Development")
            uri = resource["properties"].get("modelUri", "")
            resource["properties"]["modelUri"] = re.sub(r"/resourcegroups/", "/resourceGroups/", uri)
        store.setdefault(name, {})[version] = resource
        return 201, resource, location

    # -- code --------------------------------------------------------------------------------------

    def route_codes(self, method, parts, query, body):
        name = parts[1] if len(parts) > 1 else ""
        versions = self.codes.get(name, {})
        if len(parts) == 3 and method == "GET":  # the SDK looks a snapshot up by its hash, in any code asset
            if "hash" in query:
                return 200, {"value": self.ordered([v for all_ in self.codes.values() for v in all_.values()],
                                                   query)}, {}
            return 200, {"value": self.ordered(versions.values(), query)}, {}
        if len(parts) == 5 and parts[4] == "startPendingUpload" and method == "POST":
            self.check(rest.PendingUploadRequestDto, body, "pending upload")
            return 200, self.pending_upload(), {}
        if len(parts) != 4:
            raise not_found(f"route codes/{'/'.join(parts[1:])}")
        version = parts[3]
        if method == "GET":
            if version not in versions:
                raise not_found(f"Code {name}:{version} not found.", "CodeNotFound")
            return 200, versions[version], {}
        if method == "PUT":
            body = self.check(rest.CodeVersion, body, "code version")
            return self.put_version(self.codes, "codes", name, version, body, "codeUri")
        raise not_found(f"{method} codes/{name}")

    def pending_upload(self) -> dict:
        """A container of its own for one upload, with a SAS to write it (as recorded)."""
        if not self.storage:
            raise ArmError(500, "this emulator has no storage: give Emulator(storage=Azurite(...))")
        container = f"{self.workspace_guid}-{uuid.uuid4().hex[:10]}"
        self.storage.service().create_container(container)
        account_url = self.storage.account_url
        sas_uri = f"{account_url}/{container}?{self.storage.container_sas(container)}"
        return {"blobReferenceForConsumption": {
            "blobUri": f"{account_url}:443/{container}",
            "storageAccountArmId": f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/"
                                   f"providers/Microsoft.Storage/storageAccounts/{self.storage.account}",
            "credential": {"credentialType": "SAS", "sasUri": sas_uri}},
            "pendingUploadId": str(uuid.uuid4()), "pendingUploadType": "None"}

    # -- environments and data ---------------------------------------------------------------------

    def route_versioned(self, method, parts, query, body):
        """Environments (an inline environment in a deployment file becomes CliV2AnonymousEnvironment), data
        assets (a deployment's data collection registers them) and components (each step of a pipeline job
        written inline becomes an anonymous component, azureml_anonymous/versions/<hash>, that the step's
        componentId names: REST spec ComponentVersion {componentSpec}, azure-ai-ml's
        ANONYMOUS_COMPONENT_NAME)."""
        if len(parts) != 4 or method not in ("GET", "PUT"):
            raise not_found(f"route {'/'.join(parts)}")
        kind, name, version = parts[0], parts[1], parts[3]
        key = f"{kind}/{name}:{version}"
        if method == "PUT":
            self.check({"environments": rest.EnvironmentVersion, "components": rest.ComponentVersion}.get(
                kind, rest.DataVersionBase), body, kind)
            created = key not in self.environments
            self.environments[key] = {"id": f"{self.ws_id}/{kind}/{name}/versions/{version}", "name": version,
                                      "type": f"Microsoft.MachineLearningServices/workspaces/{kind}/versions",
                                      "properties": {**body.get("properties", {}), "provisioningState": "Succeeded"},
                                      "systemData": {"createdAt": now()}}
            return (201 if created else 200), self.environments[key], {}
        if key not in self.environments:
            raise not_found(f"{kind} {name}:{version} not found.")
        return 200, self.environments[key], {}

    # -- datastores --------------------------------------------------------------------------------

    def datastore_resource(self, name: str) -> dict:
        return {"id": f"{self.ws_id}/datastores/{name}", "name": name,
                "type": "Microsoft.MachineLearningServices/workspaces/datastores",
                "properties": {"description": None, "tags": None, "properties": None,
                               "isDefault": name == "workspaceblobstore",
                               "credentials": {"credentialsType": "AccountKey"}, "datastoreType": "AzureBlob",
                               "subscriptionId": self.subscription, "resourceGroup": self.resource_group,
                               "accountName": self.storage.account if self.storage else "nostorage",
                               "containerName": self.datastores()[name], "endpoint": "core.windows.net",
                               "protocol": "https", "serviceDataAccessAuthIdentity": "WorkspaceSystemAssignedIdentity"}}

    def route_datastores(self, method, parts, query, body):
        if len(parts) == 1 and method == "GET":
            names = [n for n in self.datastores() if query.get("isDefault", [""])[0].lower() != "true"
                     or n == "workspaceblobstore"]
            return 200, {"value": [self.datastore_resource(n) for n in names]}, {}
        name = parts[1]
        if name not in self.datastores():
            raise not_found(f"Datastore {name} not found.", "DatastoreNotFound")
        if len(parts) == 2 and method == "GET":
            return 200, self.datastore_resource(name), {}
        if len(parts) == 3 and parts[2] == "listSecrets" and method == "POST":
            if not self.storage:
                raise ArmError(500, "this emulator has no storage: give Emulator(storage=Azurite(...))")
            if body:
                self.check(rest.SecretExpiry, body, "secret expiry")
            if body.get("expirableSecret"):
                hours = body.get("expireAfterHours") or 1
                return 200, {"secretsType": "Sas",
                             "sasToken": "?" + self.storage.container_sas(self.datastores()[name], hours)}, {}
            return 200, {"secretsType": "AccountKey", "key": self.storage.key}, {}
        raise not_found(f"{method} datastores/{'/'.join(parts[1:])}")

    # -- computes and schedules --------------------------------------------------------------------

    def route_computes(self, method, parts, query, body):
        if len(parts) != 2:
            raise not_found(f"route {'/'.join(parts)}")
        name = parts[1]
        resource = {"id": f"{self.ws_id}/computes/{name}", "name": name, "location": self.location,
                    "type": "Microsoft.MachineLearningServices/workspaces/computes"}
        if method == "PUT":
            body = self.check(rest.ComputeResource, body, "compute")
            compute_type = body.get("properties", {}).get("computeType", "AmlCompute")
            resource["properties"] = {**body.get("properties", {}), "provisioningState": "Creating"}

            def finish():
                self.computes[name] = compute_type
                return None
            headers = self.start_operation("cc", ("compute", name), "Creating", finish,
                                           location_is_resource=f"{ARM}{resource['id']}?api-version=2023-04-01")
            return 201, resource, headers
        if method == "GET":
            if name not in self.computes:
                raise not_found(f"Compute {name} not found.", "ComputeNotFound")
            resource["properties"] = {"computeType": self.computes[name], "provisioningState": "Succeeded",
                                      "properties": {"vmSize": "STANDARD_DS3_V2"}}
            return 200, resource, {}
        raise not_found(f"{method} computes/{name}")

    def route_schedules(self, method, parts, query, body):
        if len(parts) != 2 or method not in ("GET", "PUT"):
            raise not_found(f"route {'/'.join(parts)}")
        name = parts[1]
        if method == "GET":
            if name not in self.schedules:
                raise not_found(f"Schedule {name} not found.")
            return 200, self.schedules[name], {}
        body = self.check(rest.Schedule, body, "schedule")
        resource = {"id": f"{self.ws_id}/schedules/{name}", "name": name,
                    "type": "Microsoft.MachineLearningServices/workspaces/schedules",
                    "properties": {**body.get("properties", {}), "provisioningState": "Creating"}}

        def finish():
            self.schedules[name] = {**resource, "properties": {**resource["properties"],
                                                               "provisioningState": "Succeeded"}}
            return None
        headers = self.start_operation("sc", ("schedule", name), "Creating", finish,
                                       location_is_resource=f"{ARM}{resource['id']}?api-version=2023-06-01-preview")
        return 201, resource, headers


def same_path(a: str, b: str) -> bool:
    """Two asset paths name the same place (the service writes resourceGroups where the SDK wrote
    resourcegroups)."""
    return a.rstrip("/").lower() == b.rstrip("/").lower()
