"""Managed online endpoints and their deployments: the management plane.

Sources:
- Traffic: "The total traffic percentage must sum to either 0% (to disable traffic) or 100% (to enable
  traffic)." and "You can set the traffic only when the deployments under an endpoint have been created."
  (learn.microsoft.com/azure/machine-learning/how-to-safely-rollout-online-endpoints); the endpoint YAML
  reference on `traffic`: "you can't set this field during online endpoint creation"
  (reference-yaml-endpoint-online).
- Mirror traffic, same safe-rollout page: "You can mirror traffic to only one deployment in an endpoint.",
  "The maximum percentage of traffic you can mirror is 50%.", "A deployment can be configured to receive
  only live traffic or mirrored traffic, not both." The REST spec keeps mirrorTraffic in the resource.
- Deletion: "You cannot delete a deployment that has live traffic allocated to it. You must first set
  traffic allocation for the deployment to 0% before deleting it." (safe-rollout page, studio tab);
  "By deleting the endpoint, you'll also delete all its underlying deployments."
- Names: "Begin with a letter", "Be 3-32 characters in length", letters, numbers and single dashes
  (learn.microsoft.com/azure/machine-learning/how-to-manage-quotas, endpoint limits), ending with a letter
  or digit (azure-ai-ml constants/_endpoint.py NAME_REGEX_PATTERN).
- A non-MLflow model needs an environment (and a scoring script, unless the environment is a custom
  container with its own inference_config); an MLflow model needs neither ("no-code deployment",
  learn.microsoft.com/azure/machine-learning/how-to-deploy-mlflow-models-online-endpoints;
  how-to-deploy-custom-container).
- request_timeout_ms: "the maximum value allowed is 180000 milliseconds" (reference-yaml-deployment-managed-online).
- "When an operation is already in progress, any new operation on that same online endpoint responds with a
  409 conflict error." (how-to-troubleshoot-online-endpoints; its Kubernetes table, applied to a deployment's
  writes while its endpoint is busy: inferred).
- Recordings (online_services/...test_online_endpoint_e2e, ...test_online_deployment): endpoint and
  deployment PUT answer 201 with provisioningState "Creating" (an update too), Azure-AsyncOperation, a
  Location naming the resource, x-ms-async-operation-timeout PT30M; scoringUri is null until the endpoint
  is created; endpoint DELETE answers 202 with the body null, a deployment DELETE 202 with no body; the
  deployment's defaults (requestSettings PT5S, 1 request per instance, probes) and the environment
  variables the service adds (AZUREML_MODEL_DIR, AZUREML_ENTRY_SCRIPT, AML_APP_ROOT); listKeys
  {primaryKey, secondaryKey}; token {accessToken, tokenType, expiryTimeUtc, refreshAfterTimeUtc}, 24 hours.
"""

from __future__ import annotations

import copy
import re
import secrets

from azure.ai.ml._restclient.arm_ml_service import models as rest

from azureml_emulator.arm import ARM, bad_request, not_found, now

NAME = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
DEFAULT_REQUEST_SETTINGS = {"maxQueueWait": "PT0S", "requestTimeout": "PT5S", "maxConcurrentRequestsPerInstance": 1}
DEFAULT_PROBE = {"failureThreshold": 30, "successThreshold": 1, "timeout": "PT2S", "period": "PT10S",
                 "initialDelay": "PT10S"}
MAX_REQUEST_TIMEOUT_S = 180


def check_name(kind: str, name: str) -> None:
    if not 3 <= len(name) <= 32 or not NAME.match(name):
        raise bad_request(f"The name for {kind} must be 3-32 characters long, start with a letter, contain only "
                          f"letters, digits and '-', and end with a letter or digit; '{name}' does not.")


def seconds(duration: str) -> float:
    """An ISO 8601 duration of hours, minutes and seconds (PT5S, PT1M30S, PT0.5S) in seconds."""
    match = re.match(r"^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$", duration or "")
    if not match:
        raise bad_request(f"'{duration}' is not a duration the service reads (e.g. PT5S).")
    hours, minutes, secs = (float(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + secs


class EndpointService:
    """The mixin of the emulator for online endpoints and deployments."""

    def _endpoint_state(self) -> None:
        self.endpoints: dict[str, dict] = {}  # name -> resource
        self.deployments: dict[tuple[str, str], dict] = {}  # (endpoint, name) -> resource
        self.keys: dict[str, tuple[str, str]] = {}  # endpoint -> (primary, secondary)
        self.endpoint_tokens: dict[str, tuple[str, float]] = {}  # aml token -> (endpoint, expiry)
        self.failing_deployments: dict[str, tuple[str, str]] = {}  # deployment -> (code, message)

    # -- what tests use ----------------------------------------------------------------------------

    def fail_deployment(self, name: str, code: str = "ImageBuildFailure",
                        message: str = "the deployment's container did not start") -> None:
        """Make the long-running operation of deployment `name` end in Failed."""
        self.failing_deployments[name] = (code, message)

    def traffic(self, endpoint: str) -> dict[str, int]:
        return self.endpoints[endpoint]["properties"]["traffic"]

    def mirror(self, endpoint: str) -> dict[str, int]:
        return self.endpoints[endpoint]["properties"]["mirrorTraffic"]

    # -- endpoints ---------------------------------------------------------------------------------

    def route_endpoints(self, method, parts, query, body):
        if len(parts) == 1 and method == "GET":
            return 200, {"value": [self.endpoints[name] for name in self.endpoints]}, {}
        name = parts[1]
        if len(parts) == 2:
            if method == "GET":
                self.operation_on(("endpoint", name))
                if name not in self.endpoints:
                    raise not_found(f"Endpoint {name} not found in workspace {self.workspace}.")
                return 200, self.endpoints[name], {}
            if method == "PUT":
                return self.put_endpoint(name, body)
            if method == "DELETE":
                return self.delete_endpoint(name)
        if name not in self.endpoints:
            raise not_found(f"Endpoint {name} not found in workspace {self.workspace}.")
        if parts[2] == "listKeys" and method == "POST":
            if self.endpoints[name]["properties"]["authMode"].lower() != "key":
                raise bad_request(f"Endpoint {name} does not use key-based authentication "
                                  f"(authMode {self.endpoints[name]['properties']['authMode']}).")
            primary, secondary = self.keys[name]
            return 200, {"primaryKey": primary, "secondaryKey": secondary}, {}
        if parts[2] == "token" and method == "POST":
            if self.endpoints[name]["properties"]["authMode"].lower() != "amltoken":
                raise bad_request(f"Endpoint {name} does not use AMLToken authentication.")
            token, issued = secrets.token_urlsafe(32), self.now()
            self.endpoint_tokens[token] = (name, issued + 86400)
            return 200, {"accessToken": token, "tokenType": "Bearer", "expiryTimeUtc": int(issued + 86400),
                         "refreshAfterTimeUtc": int(issued + 43200)}, {}
        if parts[2] == "deployments":
            return self.route_deployments(method, name, parts[3:], body)
        raise not_found(f"route onlineEndpoints/{'/'.join(parts[1:])}")

    def put_endpoint(self, name: str, body: dict):
        check_name("an endpoint", name)
        body = self.check(rest.OnlineEndpoint, body, "online endpoint")
        self.refuse_if_busy(("endpoint", name), f"Endpoint {name}")
        existing = self.endpoints.get(name)
        properties = body["properties"]
        traffic = {k: int(float(v)) for k, v in (properties.get("traffic") or {}).items()}  # "90" reads as 90
        mirror = {k: int(float(v)) for k, v in (properties.get("mirrorTraffic") or {}).items()}
        self.check_traffic(name, existing, traffic, mirror)
        resource = copy.deepcopy(existing) if existing else {
            "id": f"{self.ws_id}/onlineEndpoints/{name}", "name": name, "location": body["location"],
            "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints", "kind": "Managed",
            "systemData": {"createdAt": now(), "createdBy": "emulator", "lastModifiedAt": now()}}
        resource["tags"] = body.get("tags") or {}
        resource["identity"] = {**(body.get("identity") or {"type": "SystemAssigned"}),
                                "principalId": (existing or {}).get("identity", {}).get("principalId",
                                                                                        secrets.token_hex(16)),
                                "tenantId": self.tenant}
        resource["properties"] = {
            "description": properties.get("description"), "properties": properties.get("properties") or {},
            "authMode": properties["authMode"], "compute": None, "publicNetworkAccess":
            properties.get("publicNetworkAccess") or "Enabled",
            "scoringUri": existing["properties"]["scoringUri"] if existing else None,
            "swaggerUri": existing["properties"]["swaggerUri"] if existing else None,
            "traffic": {k.lower(): v for k, v in traffic.items() if v},
            "mirrorTraffic": {k.lower(): v for k, v in mirror.items() if v}}
        resource["systemData"]["lastModifiedAt"] = now()

        def finish():
            resource["properties"]["provisioningState"] = "Succeeded"
            resource["properties"]["scoringUri"] = f"https://{name}.{self.location}.inference.ml.azure.com/score"
            resource["properties"]["swaggerUri"] = f"https://{name}.{self.location}.inference.ml.azure.com/swagger.json"
            self.endpoints[name] = resource
            self.keys.setdefault(name, (secrets.token_urlsafe(32), secrets.token_urlsafe(32)))
            return None

        if existing:
            existing["properties"]["provisioningState"] = "Updating"
        headers = self.start_operation("oeidp", ("endpoint", name), "Updating" if existing else "Creating", finish,
                                       api_version="2022-02-01-preview",
                                       location_is_resource=f"{ARM}{self.ws_id}/onlineEndpoints/{name}"
                                                            "?api-version=2022-02-01-preview")
        if not existing:  # visible while it is created, as Creating
            self.endpoints[name] = copy.deepcopy(resource)
            self.endpoints[name]["properties"]["provisioningState"] = "Creating"
        answer = copy.deepcopy(resource)
        answer["properties"]["provisioningState"] = "Creating"  # as recorded, for an update too
        return 201, answer, headers

    def check_traffic(self, name: str, existing: dict | None, traffic: dict, mirror: dict) -> None:
        # "set the traffic only when the deployments under an endpoint have been created": Succeeded ones
        deployments = {d.lower() for (e, d), resource in self.deployments.items()
                       if e == name and resource["properties"].get("provisioningState") == "Succeeded"}
        for kind, split in (("traffic", traffic), ("mirror traffic", mirror)):
            for deployment, share in split.items():
                if not 0 <= share <= 100:
                    raise bad_request(f"The {kind} of deployment {deployment} is {share}%: a share is 0-100.")
                if share and existing is None:
                    raise bad_request(f"Traffic cannot be set while endpoint {name} is created: its deployments "
                                      "must be created first.")
                if share and deployment.lower() not in deployments:
                    raise bad_request(f"The {kind} names deployment {deployment}, which does not exist in "
                                      f"endpoint {name} (or has not been created successfully).")
        total = sum(traffic.values())
        if total not in (0, 100):
            raise bad_request(f"The traffic of endpoint {name} sums to {total}%: it must sum to 0 or 100 "
                              f"({', '.join(f'{d}={s}' for d, s in traffic.items())}).")
        mirrored = {d: s for d, s in mirror.items() if s}
        if len(mirrored) > 1:
            raise bad_request(f"Traffic can be mirrored to only one deployment, not {len(mirrored)}.")
        for deployment, share in mirrored.items():
            if share > 50:
                raise bad_request(f"At most 50% of the traffic can be mirrored, not {share}% (to {deployment}).")
            if traffic.get(deployment, 0) or traffic.get(deployment.lower(), 0):
                raise bad_request(f"Deployment {deployment} takes live traffic; it cannot also take mirrored "
                                  "traffic.")

    def delete_endpoint(self, name: str):
        self.refuse_if_busy(("endpoint", name), f"Endpoint {name}")
        for (endpoint, deployment) in list(self.deployments):
            if endpoint == name:
                self.refuse_if_busy(("deployment", endpoint, deployment), f"Deployment {deployment}")
        if name not in self.endpoints:
            raise not_found(f"Endpoint {name} not found in workspace {self.workspace}.")
        self.endpoints[name]["properties"]["provisioningState"] = "Deleting"

        def finish():
            for key in [key for key in self.deployments if key[0] == name]:
                self.stop_server(key)
                self.discard_starting(key)
                del self.deployments[key]
            self.endpoints.pop(name, None)
            self.keys.pop(name, None)
            return None
        headers = self.start_operation("oeidp", ("endpoint", name), "Deleting", finish,
                                       api_version="2022-02-01-preview")
        return 202, b"null", headers

    # -- deployments -------------------------------------------------------------------------------

    def route_deployments(self, method, endpoint, parts, body):
        if not parts and method == "GET":
            for key in [key for key in self.deployments if key[0] == endpoint]:
                self.operation_on(("deployment", *key))
            return 200, {"value": [d for (e, _), d in self.deployments.items() if e == endpoint]}, {}
        name = parts[0]
        key = (endpoint, name)
        if len(parts) == 2 and parts[1] == "getLogs" and method == "POST":
            if key not in self.deployments:
                raise not_found(f"Deployment {name} not found in endpoint {endpoint}, workspace {self.workspace}")
            self.check(rest.DeploymentLogsRequest, body, "logs request")
            return 200, {"content": self.deployment_logs(key, body.get("tail"))}, {}
        if len(parts) != 1:
            raise not_found(f"route deployments/{'/'.join(parts)}")
        if method == "GET":
            self.operation_on(("deployment", *key))
            if key not in self.deployments:
                raise not_found(f"Deployment {name} not found in endpoint {endpoint}, workspace {self.workspace}")
            return 200, self.deployments[key], {}
        if method == "PUT":
            return self.put_deployment(endpoint, name, body)
        if method == "DELETE":
            return self.delete_deployment(endpoint, name)
        raise not_found(f"{method} deployments/{name}")

    def put_deployment(self, endpoint: str, name: str, body: dict):
        check_name("a deployment", name)
        body = self.check(rest.OnlineDeployment, body, "online deployment")
        self.refuse_if_busy(("endpoint", endpoint), f"Endpoint {endpoint}")
        self.refuse_if_busy(("deployment", endpoint, name), f"Deployment {name}")
        properties = body["properties"]
        capacity = int(float((body.get("sku") or {}).get("capacity", 1)))
        if capacity < 1:
            raise bad_request(f"instance_count is {capacity}: a deployment needs at least 1 instance.")
        settings = {**DEFAULT_REQUEST_SETTINGS, **{k: v for k, v in (properties.get("requestSettings") or {}).items()
                                                   if v is not None}}
        if seconds(settings["requestTimeout"]) > MAX_REQUEST_TIMEOUT_S:
            raise bad_request(f"request_timeout_ms is {seconds(settings['requestTimeout']) * 1000:.0f}: the maximum "
                              "is 180000.")
        model = self.model_of(properties.get("model") or "")
        code = properties.get("codeConfiguration")
        if model and model["properties"].get("modelType", "").lower() != "mlflow_model" and \
                not properties.get("environmentId"):
            raise bad_request(f"Model {properties.get('model')} is not an MLflow model: a deployment of it needs an "
                              "environment (with a scoring script in code_configuration, or a custom container's "
                              "inference_config).")
        existing = self.deployments.get((endpoint, name))
        resource = {
            "id": f"{self.ws_id}/onlineEndpoints/{endpoint}/deployments/{name}", "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
            "location": body["location"], "kind": "Managed", "tags": body.get("tags") or {},
            "sku": {"name": "Default", "tier": "Standard", "capacity": capacity},
            "systemData": (existing or {}).get("systemData") or {"createdAt": now(), "createdBy": "emulator"},
            "properties": {**properties, "requestSettings": settings,
                           "scaleSettings": properties.get("scaleSettings") or {"scaleType": "Default"},
                           "livenessProbe": properties.get("livenessProbe") or DEFAULT_PROBE,
                           "readinessProbe": properties.get("readinessProbe") or DEFAULT_PROBE,
                           "egressPublicNetworkAccess": properties.get("egressPublicNetworkAccess") or "Enabled",
                           "environmentVariables": {**(properties.get("environmentVariables") or {}),
                                                    **self.service_variables(model, code)}}}
        for collection in ((properties.get("dataCollector") or {}).get("collections") or {}).values():
            data = str(collection.get("dataId") or "")
            if data.startswith("azureml:"):  # the service answers the data asset as an ARM id
                _, asset, version = data.split(":")
                collection["dataId"] = f"{self.ws_id}/data/{asset}/versions/{version}"
        key = (endpoint, name)
        self.provision(key, resource, model, code)

        def finish():
            failing = self.failing_deployments.get(name)
            problem = self.provisioning_error(key)
            if failing or problem:
                self.discard_starting(key)
                resource["properties"]["provisioningState"] = "Failed"
                self.deployments[key] = resource
                return {"code": failing[0], "message": failing[1]} if failing else problem
            self.promote(key)
            resource["properties"]["provisioningState"] = "Succeeded"
            self.deployments[key] = resource
            return None

        headers = self.start_operation("odidp", ("deployment", endpoint, name), "Updating" if existing else "Creating",
                                       finish, ready=lambda: self.server_settled(key),
                                       location_is_resource=f"{ARM}{resource['id']}?api-version=2023-04-01-preview")
        visible = copy.deepcopy(resource)
        visible["properties"]["provisioningState"] = "Updating" if existing else "Creating"
        if existing:
            existing["properties"]["provisioningState"] = "Updating"
        else:
            self.deployments[key] = visible
        answer = copy.deepcopy(resource)
        answer["properties"]["provisioningState"] = "Creating"
        return 201, answer, headers

    def service_variables(self, model: dict | None, code: dict | None) -> dict[str, str]:
        """The variables the service adds to a deployment (as recorded)."""
        variables = {}
        if model:
            name = model["id"].split("/models/")[1].split("/")[0]
            variables["AZUREML_MODEL_DIR"] = f"/var/azureml-app/azureml-models/{name}/{model['name']}"
        if code:
            variables["AZUREML_ENTRY_SCRIPT"] = code.get("scoringScript", "")
            code_asset = self.code_of(code.get("codeId", ""))
            folder = (code_asset or {}).get("properties", {}).get("codeUri", "").rstrip("/").rsplit("/", 1)[-1]
            variables["AML_APP_ROOT"] = f"/var/azureml-app/{folder}"
        return variables

    def model_of(self, reference: str) -> dict | None:
        """The model version an ARM id, azureml:name:version or a registry's azureml://registries/... names (a
        deployment "can use a model from a registry", learn.microsoft.com/azure/machine-learning/
        how-to-share-models-pipelines-across-workspaces-with-registries)."""
        if not reference:
            return None
        shared = re.match(r"^azureml://registries/(?P<registry>[^/]+)/models/(?P<name>[^/]+)/versions/"
                          r"(?P<version>[^/]+)$", reference)
        if shared:
            found = self.registries.get(shared["registry"], {}).get(shared["name"], {}).get(shared["version"])
            if found is None:
                raise bad_request(f"Model {reference} was not found.", inner="UserErrorModelNotFound")
            return found
        match = re.search(r"/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$", reference) or \
            re.match(r"^azureml:(?P<name>[^:]+):(?P<version>[^:]+)$", reference)
        if not match or match["version"] not in self.models.get(match["name"], {}):
            raise bad_request(f"Model {reference} was not found in workspace {self.workspace}.",
                              inner="UserErrorModelNotFound")
        return self.models[match["name"]][match["version"]]

    def code_of(self, reference: str) -> dict | None:
        match = re.search(r"/codes/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$", reference)
        if not reference:
            return None
        if not match or match["version"] not in self.codes.get(match["name"], {}):
            raise bad_request(f"Code {reference} was not found in workspace {self.workspace}.")
        return self.codes[match["name"]][match["version"]]

    def delete_deployment(self, endpoint: str, name: str):
        key = (endpoint, name)
        self.refuse_if_busy(("deployment", endpoint, name), f"Deployment {name}")
        self.refuse_if_busy(("endpoint", endpoint), f"Endpoint {endpoint}")
        if key not in self.deployments:
            raise not_found(f"Deployment {name} not found in endpoint {endpoint}, workspace {self.workspace}")
        live = self.traffic(endpoint).get(name.lower(), 0)
        if live:
            raise bad_request(f"Deployment {name} has {live}% of the live traffic of endpoint {endpoint}: set its "
                              "traffic to 0% before deleting it.")
        if self.mirror(endpoint).get(name.lower(), 0):
            raise bad_request(f"Deployment {name} receives mirrored traffic of endpoint {endpoint}: set its mirror "
                              "traffic to 0% before deleting it.")
        self.deployments[key]["properties"]["provisioningState"] = "Deleting"

        def finish():
            self.stop_server(key)
            self.discard_starting(key)
            self.deployments.pop(key, None)
            return None
        headers = self.start_operation("odidp", ("deployment", endpoint, name), "Deleting", finish)
        return 202, None, headers
