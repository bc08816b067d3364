"""Azure ML registries: registry discovery, and a registry's models on its data plane (the registry's own
resource provider host), which is what azure-ai-ml calls with MLClient(registry_name=...).

Sources:
- Discovery: "The format for the discovery URL is https://<region>.api.azureml.ms/registrymanagement/v1.0/
  registries/<registry_name>/discovery ... When calling the discovery URL, you must provide an Azure access token"
  (learn.microsoft.com/azure/machine-learning/how-to-registry-network-isolation, "How to find the registry's
  fully qualified domain name"); the answer is RegistryDiscoveryDto {registryName, tenantId, primaryRegion,
  regions, subscriptionId, resourceGroup, primaryRegionResourceProviderUri} (azure-sdk-for-python,
  sdk/ml/azure-ai-ml/swagger/.../preview/registry-discovery/typespec/models.tsp), and the generated client maps
  404 to ResourceNotFoundError (azure-ai-ml _restclient/registry_discovery/operations/_operations.py).
- The data plane: "${RP_HOST%/}/mferp/managementfrontend/subscriptions/<subscription>/resourceGroups/<group>/
  providers/Microsoft.MachineLearningServices/registries/<registry>/models/my-model/versions/1?api-version=
  2021-10-01-dataplanepreview", RP_HOST being discovery's primaryRegionResourceProviderUri (learn.microsoft.com/
  azure/machine-learning/how-to-deploy-models-from-registry... REST tab, "look up the data plane host with a
  one-time discovery call"). A registry's model version has the workspace's ModelVersion shape
  (azure-rest-api-specs machinelearningservices registryModelVersions.json: ModelVersionResource), its
  container nextVersion ("The next auto incremental version", AssetContainer).
- Upload: tempdatarefs/{name}/versions/{version} answers a blobReferenceForConsumption whose credential is a
  SAS URI (what azure-ai-ml's get_sas_uri_for_registry_asset reads); 409 when the asset exists ("'Asset already
  exists' exception is thrown from service with error code 409", same function).
- Sharing a workspace's version: POST registries/{registry}/import with {properties: {referenceType: Id,
  destinationName, destinationVersion, sourceAssetId: azureml://locations/{location}/workspaces/{workspace
  guid}/models/{name}/versions/{version}}} (azure-ai-ml WorkspaceAssetReference._to_rest_object, ASSET_ID_FORMAT;
  learn.microsoft.com/azure/machine-learning/how-to-share-models-pipelines-across-workspaces-with-registries:
  "Share a model from workspace to registry"); an asynchronous POST answers 202 with a Location polled to 200
  (Azure/azure-resource-manager-rpc v1.0/Addendum.md, "Asynchronous operations"); a version already in the
  registry is refused client-side by the SDK, and 409 Conflict here.

Not emulated: creating a registry through ARM (tests create one with create_registry, as `az ml registry create`
would), replication regions, a registry's environments, components and data.
"""

from __future__ import annotations

import re

from azureml_emulator.arm import ArmError, not_found, now
from azureml_emulator.assets import model_container

DISCOVERY = re.compile(r"^/registrymanagement/v1\.0/registries/(?P<name>[^/]+)/discovery$")
DATA_PLANE = re.compile(r"^/mferp/managementfrontend(?P<scope>/subscriptions/(?P<sub>[^/]+)/resourceGroups/"
                        r"(?P<rg>[^/]+)/providers/Microsoft\.MachineLearningServices/registries/(?P<registry>[^/]+))"
                        r"(?P<rest>/.*)?$", re.IGNORECASE)
SOURCE_ASSET = re.compile(r"^azureml://locations/[^/]+/workspaces/(?P<guid>[^/]+)/models/(?P<name>[^/]+)/versions/"
                          r"(?P<version>[^/]+)$")


class RegistryService:
    """The mixin of the emulator for registries (in the emulator's subscription and resource group)."""

    def _registry_state(self) -> None:
        self.registries: dict[str, dict[str, dict[str, dict]]] = {}  # registry -> model -> {version: resource}

    def create_registry(self, name: str) -> None:
        """A registry, as `az ml registry create` makes one (ARM's registry resource is not emulated)."""
        self.registries.setdefault(name, {})

    def registry_host(self) -> str:
        return f"https://cert-{self.location}.experiments.azureml.net/"

    def registry_discovery(self, path: str):
        match = DISCOVERY.match(path)
        if not match:
            raise not_found(f"route {path}")
        if match["name"] not in self.registries:
            raise ArmError(404, f"Registry {match['name']} not found.", code="NotFound")
        return 200, {"registryName": match["name"], "tenantId": self.tenant, "primaryRegion": self.location,
                     "regions": [self.location], "subscriptionId": self.subscription,
                     "resourceGroup": self.resource_group, "workspaceName": None,
                     "primaryRegionResourceProviderUri": self.registry_host()}, {}

    def registry_scope(self, path: str) -> str:
        """The ARM scope a data-plane request acts on (for its role check)."""
        match = DATA_PLANE.match(path)
        return (match["scope"] + (match["rest"] or "")) if match else path

    def registry_data_plane(self, method: str, path: str, query: dict, body):
        match = DATA_PLANE.match(path)
        if not match or match["sub"] != self.subscription or match["rg"].lower() != self.resource_group.lower() \
                or match["registry"] not in self.registries:
            raise ArmError(404, f"The Resource '{path}' was not found.", code="ResourceNotFound")
        registry, scope = match["registry"], match["scope"]
        models = self.registries[registry]
        parts = (match["rest"] or "").strip("/").split("/")
        if parts == ["import"] and method == "POST":
            return self.import_into(registry, scope, body or {})
        if parts[0] == "tempdatarefs" and len(parts) == 4 and method == "PUT":
            if parts[3] in models.get(parts[1], {}):
                raise ArmError(409, f"Asset {parts[1]}:{parts[3]} already exists.", code="Conflict")
            return 200, self.pending_upload(), {}
        if parts[0] != "models" or len(parts) < 2:
            raise not_found(f"route {'/'.join(parts)}")
        name, versions = parts[1], models.get(parts[1], {})
        if len(parts) == 2 and method == "GET":
            if not versions:
                raise not_found(f"Model container with name: {name} not found.", "ModelNotFound")
            return 200, model_container(f"azureml://registries/{registry}/models/{name}", "registries", name,
                                        versions), {}
        if len(parts) == 3 and method == "GET":  # an empty list for a model without versions: unlike a
            # workspace's 404, as azure-ai-ml's registry create_or_update needs (it lists the versions first and
            # raises on anything but 200: _utils/_registry_utils.py list_registry_assets, _asset_utils._get_latest)
            return 200, {"value": self.ordered(versions.values(), query)}, {}
        if len(parts) != 4:
            raise not_found(f"route models/{'/'.join(parts[1:])}")
        version = parts[3]
        if method == "GET":
            if version not in versions:
                raise not_found(f"Model {name}:{version} not found.", "ModelNotFound")
            return 200, versions[version], {}
        if method == "PUT":
            # the data plane's own api-version (2021-10-01-dataplanepreview), not the ARM models the workspace's
            # routes check against: a modelUri is what a version cannot do without (ModelVersion, REST spec)
            if not isinstance((body or {}).get("properties", {}).get("modelUri"), str):
                raise ArmError(400, "Request is invalid and/or missing fields.", details=[{
                    "code": "RequestInvalid", "message": "properties.modelUri is required"}])
            return self.put_version_in(models, registry, name, version, body)
        raise not_found(f"{method} models/{name}/versions/{version}")

    def put_version_in(self, models: dict, registry: str, name: str, version: str, body: dict):
        """As the workspace's put_version (201 new, 200 an update of description and tags; a path never changes).
        Its id is the registry's asset id, azureml://registries/<r>/models/<n>/versions/<v>: what azure-ai-ml reads
        back (_utils/_arm_id_utils.py AMLVersionedArmId takes a workspace's ARM id or REGISTRY_VERSION_PATTERN) and
        what `az ml model show --registry-name` prints as "id"."""
        properties = body.get("properties", {})
        existing = models.get(name, {}).get(version)
        if existing:
            if properties.get("modelUri") and properties["modelUri"] != existing["properties"]["modelUri"]:
                raise ArmError(400, "Asset paths cannot be updated.")
            existing["properties"].update(description=properties.get("description"),
                                          tags=properties.get("tags") or {})
            return 200, existing, {}
        resource = {"id": f"azureml://registries/{registry}/models/{name}/versions/{version}", "name": version,
                    "type": "Microsoft.MachineLearningServices/registries/models/versions",
                    "properties": {"description": None, "tags": {}, "properties": {}, "flavors": {},
                                   "isArchived": False, "isAnonymous": False, **properties,
                                   "provisioningState": "Succeeded"},
                    "systemData": {"createdAt": now(), "createdBy": "emulator", "createdByType": "User",
                                   "lastModifiedAt": now()}}
        models.setdefault(name, {})[version] = resource
        return 201, resource, {}

    def import_into(self, registry: str, scope: str, body: dict):
        """Share a workspace's model version into the registry: its files, type, tags and description."""
        properties = body.get("properties", {})
        source = SOURCE_ASSET.match(properties.get("sourceAssetId", ""))
        if properties.get("referenceType") != "Id" or not source:
            raise ArmError(400, "Request is invalid and/or missing fields.", details=[{
                "code": "RequestInvalid", "message": f"sourceAssetId {properties.get('sourceAssetId')!r} is not a "
                "workspace asset id"}])
        owner = next((w for w in self.workspaces if w.workspace_guid == source["guid"]), None)
        found = owner.models.get(source["name"], {}).get(source["version"]) if owner else None
        if found is None:
            raise not_found(f"Model {source['name']}:{source['version']} not found.", "ModelNotFound")
        name = properties.get("destinationName") or source["name"]
        version = properties.get("destinationVersion") or source["version"]
        if version in self.registries[registry].get(name, {}):
            raise ArmError(409, f"Model {name}:{version} already exists in registry {registry}.", code="Conflict")
        kept = ("modelType", "modelUri", "tags", "description", "flavors", "properties")
        copied = {key: found["properties"].get(key) for key in kept}

        def finish() -> None:  # the version appears when the operation ends
            self.put_version_in(self.registries[registry], registry, name, version, {"properties": copied})
        headers = self.start_operation("import", (scope, "import", name, version), "Running", finish,
                                       status_url=False)
        return 202, None, headers
