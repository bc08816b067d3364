"""Sign-in and identities: Microsoft Entra ID's token endpoint, the tokens every other request must carry,
Microsoft Graph (app registrations and service principals), and Azure Resource Manager's user-assigned
managed identities and role assignments.

Sources:
- Entra's client credentials flow (learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow):
  POST /{tenant}/oauth2/v2.0/token with grant_type=client_credentials, client_id, scope, and client_secret or
  client_assertion (client_assertion_type urn:ietf:params:oauth:client-assertion-type:jwt-bearer); the answer
  {token_type: Bearer, expires_in, ext_expires_in, access_token}; errors {error, error_description,
  error_codes}. AADSTS700024 "Client assertion is not within its valid time range." is Entra's answer to an
  expired assertion (learn.microsoft.com/entra/identity-platform/reference-error-codes), the error a GitHub
  OIDC token gets once it expires (a few minutes after azure/login); AADSTS90002 "Tenant '{tenant}' not
  found." for a tenant that is not the directory's.
- Workload identity federation (learn.microsoft.com/entra/workload-id/workload-identity-federation): a
  federated credential has an issuer, a subject and audiences (GitHub: https://token.actions.githubusercontent.com,
  repo:OWNER/REPO:..., api://AzureADTokenExchange); an assertion is accepted only when all three match.
- ARM's answers to a bad token
  (learn.microsoft.com/azure/azure-resource-manager/troubleshooting/common-deployment-errors): 401
  AuthenticationFailed when the Authorization header is missing, InvalidAuthenticationToken when the token is
  not valid, ExpiredAuthenticationToken when it has expired.
- Microsoft Graph v1.0: GET /applications(appId='{id}')/federatedIdentityCredentials and
  GET /servicePrincipals(appId='{id}') (learn.microsoft.com/graph/api/resources/federatedidentitycredential);
  a managed identity has a service principal but no application object, so the first is a 404
  Request_ResourceNotFound for it (learn.microsoft.com/entra/identity/managed-identities-azure-resources/overview).
- ARM: user-assigned identities (Microsoft.ManagedIdentity/userAssignedIdentities, api-version 2023-01-31)
  and their federated credentials, .../userAssignedIdentities/{name}/federatedIdentityCredentials, each
  {name, properties: {issuer, subject, audiences}} (learn.microsoft.com/rest/api/managedidentity).
- GitHub's OIDC provider, for a job with id-token: write (docs.github.com/actions/security-for-github-actions/
  security-hardening-your-deployments/about-security-hardening-with-openid-connect, "Requesting the JWT using
  environment variables"): GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=<audience> with the header
  "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" answers {"value": <JWT>}, whose iss is
  https://token.actions.githubusercontent.com, sub the job's subject, aud the audience asked for; a GitHub
  token expires after a few minutes (set here by github_lifetime).
- Authorization (learn.microsoft.com/azure/role-based-access-control/built-in-roles): a caller needs a role
  at the resource's scope or above: Reader reads; Contributor and Owner read and write; "AzureML Data
  Scientist: Can perform all actions within an Azure Machine Learning workspace, except for creating or
  deleting compute resources and modifying the workspace itself"; role assignments are read with
  Microsoft.Authorization/roleAssignments/read (Reader, Contributor, Owner, User Access Administrator);
  a registry's assets are read by Reader, and read and written by Contributor, Owner and AzureML Registry User
  ("Can perform all actions on Machine Learning Services Registry assets as well as get Registry resources"),
  not by AzureML Data Scientist, whose actions are a workspace's.
  A refusal is ARM's 403 AuthorizationFailed, "The client '{id}' with object id '{id}' does not have
  authorization to perform action '{action}' over scope '{scope}' or the scope is invalid."
  (learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-authorization-failed).
- Role assignments list (learn.microsoft.com/rest/api/authorization/role-assignments/list-for-scope):
  "$filter=atScope() to return all role assignments at or above this scope", "$filter=assignedTo('{id}')
  to return all role assignments at, above or below the scope for the specified principal"; with no
  filter, all role assignments at, above or below the scope.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from azureml_emulator.arm import ArmError

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
# built-in role definitions (learn.microsoft.com/azure/role-based-access-control/built-in-roles)
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
CONTRIBUTOR = "b24988ac-6210-4c4c-b5ce-ef9fd3e8101f"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
DATA_SCIENTIST = "f6c7c914-8db3-469d-8ca1-694a8f32e121"
ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
REGISTRY_USER = "1823dd4f-9b8c-4ab6-ab4e-7397a3684615"
ROLES_THAT_READ = {READER, CONTRIBUTOR, OWNER, DATA_SCIENTIST}
ROLES_THAT_WRITE = {CONTRIBUTOR, OWNER, DATA_SCIENTIST}
ROLES_THAT_MANAGE_COMPUTE = {CONTRIBUTOR, OWNER}
ROLES_THAT_READ_ASSIGNMENTS = {READER, CONTRIBUTOR, OWNER, ACCESS_ADMINISTRATOR}
# a registry's assets (built-in-roles): AzureML Registry User has Microsoft.MachineLearningServices/registries/read
# and registries/assets/*; AzureML Data Scientist's actions are all under workspaces/, none under registries/
ROLES_THAT_READ_REGISTRIES = {READER, CONTRIBUTOR, OWNER, REGISTRY_USER}
ROLES_THAT_WRITE_REGISTRIES = {CONTRIBUTOR, OWNER, REGISTRY_USER}
REGISTRY = re.compile(r"/providers/Microsoft\.MachineLearningServices/registries/", re.IGNORECASE)
EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# the audiences a token may be asked for, by the host that accepts it
AUDIENCES = {host: f"https://{host}" for host in ("management.azure.com", "graph.microsoft.com", "ml.azure.com",
                                                  "storage.azure.com")}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_claims(token: str) -> dict | None:
    """The claims of a JWT, unverified (None when it is not one)."""
    try:
        return json.loads(_unb64(token.split(".")[1]))
    except (IndexError, ValueError):
        return None


@dataclass
class Identity:
    """A workflow identity: an app registration (with a secret) or a user-assigned managed identity."""

    client_id: str
    principal_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    secret: str | None = None
    managed: bool = False  # a user-assigned managed identity: no application object in Graph
    name: str = ""  # the managed identity's resource name
    resource_group: str = ""
    federated: list[dict] = field(default_factory=list)  # {name, issuer, subject, audiences}
    roles: list[tuple[str, str]] = field(default_factory=list)  # (scope, role definition guid)


class IdentityService:
    """The mixin of the emulator that signs in and checks tokens."""

    tenant = "72f988bf-0000-0000-0000-000000000000"
    token_lifetime = 3599  # seconds, as Entra answers (expires_in)

    def _identity_state(self) -> None:
        self.secret_key = uuid.uuid4().bytes
        self.clock = 0.0  # seconds added to the real time: a test moves it on to expire tokens
        self.identities: dict[str, Identity] = {}
        self.tokens_issued: list[dict] = []
        # GitHub's OIDC provider, as a job with id-token: write sees it
        self.github_request_token = uuid.uuid4().hex
        self.github_subject = "repo:contoso/diabetes:ref:refs/heads/main"
        self.github_lifetime = 300.0
        self.github_tokens_issued = 0

    def now(self) -> float:
        return time.time() + self.clock

    # -- what tests use ----------------------------------------------------------------------------

    def app(self, client_id: str, secret: str = "emulator-secret", **settings) -> Identity:
        """Register an application (a service principal with a secret)."""
        self.identities[client_id] = Identity(client_id, secret=secret, **settings)
        return self.identities[client_id]

    def managed_identity(self, client_id: str, name: str, **settings) -> Identity:
        """Create a user-assigned managed identity in the emulator's resource group."""
        settings.setdefault("resource_group", self.resource_group)
        self.identities[client_id] = Identity(client_id, managed=True, name=name, **settings)
        return self.identities[client_id]

    def federate(self, client_id: str, subject: str, name: str | None = None, issuer: str = GITHUB_ISSUER,
                 audiences: tuple[str, ...] = (EXCHANGE_AUDIENCE,)) -> None:
        identity = self.identities[client_id]
        identity.federated.append({"name": name or f"credential{len(identity.federated)}", "issuer": issuer,
                                   "subject": subject, "audiences": list(audiences)})

    def grant(self, client_id: str, role: str, scope: str | None = None) -> None:
        self.identities[client_id].roles.append((scope or self.ws_id, role))

    def github_token(self, subject: str, lifetime: float = 300, audience: str = EXCHANGE_AUDIENCE) -> str:
        """An ID token as GitHub's OIDC provider issues one (unsigned here: the emulator reads its claims)."""
        issued = self.now()
        claims = {"iss": GITHUB_ISSUER, "sub": subject, "aud": audience, "iat": int(issued),
                  "nbf": int(issued), "exp": int(issued + lifetime)}
        return ".".join([_b64(b'{"alg":"RS256","typ":"JWT"}'), _b64(json.dumps(claims).encode()), _b64(b"github")])

    def github_oidc(self, path: str, query: dict, headers):
        """GitHub's OIDC token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL)."""
        if headers.get("Authorization", "").lower() != f"bearer {self.github_request_token}":
            return 401, {"message": "Bad credentials"}, {}
        audience = query.get("audience", ["https://github.com/contoso"])[0]
        self.github_tokens_issued += 1
        return 200, {"count": 1, "value": self.github_token(self.github_subject, self.github_lifetime, audience)}, {}

    # -- Entra ID ----------------------------------------------------------------------------------

    def _access_token(self, identity: Identity, audience: str, proof: str = "secret") -> tuple[str, int]:
        issued = self.now()
        claims = {"aud": audience, "iss": f"https://sts.windows.net/{self.tenant}/", "tid": self.tenant,
                  "appid": identity.client_id, "oid": identity.principal_id, "iat": int(issued),
                  "nbf": int(issued), "exp": int(issued + self.token_lifetime)}
        payload = _b64(json.dumps(claims).encode())
        header = _b64(b'{"alg":"HS256","typ":"JWT"}')
        signature = _b64(hmac.new(self.secret_key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        self.tokens_issued.append({**claims, "proof": proof})  # proof: how the client proved who it is
        return f"{header}.{payload}.{signature}", self.token_lifetime

    def entra(self, method: str, path: str, form: bytes):
        """login.microsoftonline.com: tenant metadata (as MSAL reads it) and the token endpoint."""
        match = re.match(r"^/(?P<tenant>[^/]+)/(?P<rest>.*)$", path)
        if not match:
            return 404, {"error": "not_found"}, {}
        if match["tenant"] not in (self.tenant, "common", "organizations") or (
                match["tenant"] != self.tenant and match["rest"] == "oauth2/v2.0/token"):
            return self._entra_error(400, "invalid_request", 90002, f"Tenant '{match['tenant']}' not found. Check "
                                     "to make sure you have the correct tenant ID and are signing into the correct "
                                     "cloud.")
        base = f"https://login.microsoftonline.com/{match['tenant']}"
        if match["rest"] in ("v2.0/.well-known/openid-configuration", ".well-known/openid-configuration"):
            return 200, {"token_endpoint": f"{base}/oauth2/v2.0/token", "issuer": f"{base}/v2.0",
                         "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                         "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                         "tenant_region_scope": "WW"}, {}
        if match["rest"] == "discovery/instance":
            return 200, {"tenant_discovery_endpoint": f"{base}/v2.0/.well-known/openid-configuration",
                         "api-version": "1.1", "metadata": []}, {}
        if match["rest"] != "oauth2/v2.0/token" or method != "POST":
            return 404, {"error": "not_found"}, {}
        values = {key: items[0] for key, items in parse_qs(form.decode()).items()}
        identity = self.identities.get(values.get("client_id", ""))
        if identity is None:
            return self._entra_error(400, "unauthorized_client", 700016, "Application with identifier "
                                     f"'{values.get('client_id')}' was not found in the directory.")
        if values.get("client_assertion"):
            refused = self._refuse_assertion(identity, values)
            if refused:
                return refused
        elif identity.secret is None or values.get("client_secret") != identity.secret:
            return self._entra_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        scope = values.get("scope", "").split()[0] if values.get("scope") else ""
        audience = scope.removesuffix("/.default")
        if audience not in AUDIENCES.values():
            return self._entra_error(400, "invalid_resource", 500011, f"The resource principal named {audience} "
                                     "was not found in the tenant.")
        token, lifetime = self._access_token(identity, audience,
                                             "client_assertion" if values.get("client_assertion") else "secret")
        return 200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                     "access_token": token}, {}

    def _refuse_assertion(self, identity: Identity, values: dict):
        claims = jwt_claims(values["client_assertion"])
        if values.get("client_assertion_type") != ASSERTION_TYPE or claims is None:
            return self._entra_error(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
        if not claims.get("nbf", 0) <= self.now() < claims.get("exp", 0):
            return self._entra_error(400, "invalid_client", 700024, "Client assertion is not within its valid "
                                     "time range.")
        audiences = claims["aud"] if isinstance(claims.get("aud"), list) else [claims.get("aud")]
        matching = [c for c in identity.federated if c["issuer"] == claims.get("iss")
                    and c["subject"] == claims.get("sub") and set(audiences) & set(c["audiences"])]
        if not matching:
            return self._entra_error(400, "invalid_client", 70021, "No matching federated identity record found "
                                     f"for presented assertion. Assertion Issuer: '{claims.get('iss')}'. Assertion "
                                     f"Subject: '{claims.get('sub')}'. Assertion Audience: '{claims.get('aud')}'.")
        return None

    def _entra_error(self, status: int, error: str, code: int, message: str):
        return status, {"error": error, "error_description": f"AADSTS{code}: {message}", "error_codes": [code],
                        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(self.now()))}, {}

    def check_token(self, headers, host: str) -> Identity:
        """The identity behind a request's bearer token; an ArmError (401) when there is none."""
        authorization = headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            raise ArmError(401, "Authentication failed. The 'Authorization' header is missing.",
                           code="AuthenticationFailed")
        token = authorization.removeprefix("Bearer ")
        header, payload, signature = (token.split(".") + ["", "", ""])[:3]
        expected = _b64(hmac.new(self.secret_key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        claims = jwt_claims(token) if hmac.compare_digest(signature, expected) else None
        identity = self.identities.get((claims or {}).get("appid", ""))
        if claims is None or identity is None:
            raise ArmError(401, "The access token is invalid.", code="InvalidAuthenticationToken")
        if claims.get("aud") != AUDIENCES.get(host, claims.get("aud")):
            raise ArmError(401, f"The access token has been obtained for wrong audience or resource "
                           f"'{claims.get('aud')}'. It should exactly match with one of the allowed audiences "
                           f"'{AUDIENCES.get(host)}'.", code="InvalidAuthenticationToken")
        if claims["exp"] <= self.now():
            expiry = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(claims["exp"]))
            current = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(self.now()))
            raise ArmError(401, f"The access token expiry UTC time '{expiry}' is earlier than current UTC time "
                           f"'{current}'.", code="ExpiredAuthenticationToken")
        return identity

    def authorize(self, identity: Identity, method: str, path: str) -> None:
        """403 AuthorizationFailed unless the identity holds a role that allows the request, at the path's
        scope or above."""
        if "/providers/Microsoft.Authorization/roleAssignments" in path:
            needed, action = ROLES_THAT_READ_ASSIGNMENTS, "Microsoft.Authorization/roleAssignments/read"
        elif REGISTRY.search(path):
            needed, action = (ROLES_THAT_READ_REGISTRIES, "Microsoft.MachineLearningServices/registries/assets/read") \
                if method == "GET" else \
                (ROLES_THAT_WRITE_REGISTRIES, "Microsoft.MachineLearningServices/registries/assets/write")
        elif re.search(r"/workspaces/[^/]+/computes/", path) and method != "GET":
            needed, action = ROLES_THAT_MANAGE_COMPUTE, "Microsoft.MachineLearningServices/workspaces/computes/write"
        elif method == "GET":
            needed, action = ROLES_THAT_READ, "read"
        else:
            needed, action = ROLES_THAT_WRITE, "write"
        scope = path.lower()
        held = {role for assigned, role in identity.roles
                if scope == assigned.lower() or scope.startswith(assigned.lower().rstrip("/") + "/")}
        if not held & needed:
            raise ArmError(403, f"The client '{identity.client_id}' with object id '{identity.principal_id}' does not "
                           f"have authorization to perform action '{action}' over scope '{path}' or the scope is "
                           "invalid. If access was recently granted, please refresh your credentials.",
                           code="AuthorizationFailed")

    # -- Microsoft Graph ---------------------------------------------------------------------------

    def graph(self, path: str):
        match = re.match(r"^/v1\.0/(?P<kind>applications|servicePrincipals)\(appId='(?P<app>[^']+)'\)"
                         r"(?P<rest>/federatedIdentityCredentials)?$", path)
        identity = self.identities.get(match["app"]) if match else None
        if identity is None or (match["kind"] == "applications" and identity.managed):
            return 404, {"error": {"code": "Request_ResourceNotFound", "message": f"Resource '{path}' does not "
                                   "exist or one of its queried reference-property objects are not present."}}, {}
        if match["rest"]:
            return 200, {"value": [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, c["name"])), "name": c["name"],
                                    "issuer": c["issuer"], "subject": c["subject"], "audiences": c["audiences"]}
                                   for c in identity.federated]}, {}
        return 200, {"id": identity.principal_id, "appId": identity.client_id,
                     "servicePrincipalType": "ManagedIdentity" if identity.managed else "Application"}, {}

    # -- ARM: managed identities and role assignments ------------------------------------------------

    def managed_identities(self, path: str):
        """GET user-assigned identities (by subscription or by name) and their federated credentials."""
        match = re.match(r"^/subscriptions/(?P<sub>[^/]+)(/resourceGroups/(?P<rg>[^/]+))?/providers/"
                         r"Microsoft\.ManagedIdentity/userAssignedIdentities(/(?P<name>[^/]+))?"
                         r"(?P<fic>/federatedIdentityCredentials)?$", path, re.IGNORECASE)
        if not match or match["sub"] != self.subscription:
            raise ArmError(404, f"The resource '{path}' was not found.", code="ResourceNotFound")
        managed = [i for i in self.identities.values() if i.managed and (
            match["rg"] is None or i.resource_group.lower() == match["rg"].lower())]
        if match["name"] is None:
            return 200, {"value": [self._identity_resource(i) for i in managed]}, {}
        found = next((i for i in managed if i.name == match["name"]), None)
        if found is None:
            raise ArmError(404, f"The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/{match['name']}' "
                           f"under resource group '{match['rg']}' was not found.", code="ResourceNotFound")
        if not match["fic"]:
            return 200, self._identity_resource(found), {}
        base = self._identity_resource(found)["id"]
        return 200, {"value": [{"id": f"{base}/federatedIdentityCredentials/{c['name']}", "name": c["name"],
                                "type": "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials",
                                "properties": {"issuer": c["issuer"], "subject": c["subject"],
                                               "audiences": c["audiences"]}} for c in found.federated]}, {}

    def _identity_resource(self, identity: Identity) -> dict:
        return {"id": f"/subscriptions/{self.subscription}/resourcegroups/{identity.resource_group}/providers/"
                      f"Microsoft.ManagedIdentity/userAssignedIdentities/{identity.name}",
                "name": identity.name, "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
                "location": self.location, "properties": {"tenantId": self.tenant, "principalId": identity.principal_id,
                                                          "clientId": identity.client_id}}

    def role_assignments(self, scope: str, query: dict):
        """Role assignments at `scope`, filtered as the REST API documents."""
        scope = scope.rstrip("/").lower()
        filter_ = query.get("$filter", [""])[0]
        principal = re.search(r"(?:assignedTo\('|principalId eq ')([^']+)'", filter_)

        def above(assigned: str) -> bool:  # the assignment's scope is `scope` or one of its parents
            return scope == assigned or scope.startswith(assigned.rstrip("/") + "/")

        def below(assigned: str) -> bool:
            return assigned.startswith(scope + "/")

        include_below = "atScope()" not in filter_  # no filter, or only a principal's: at, above or below
        found = []
        for identity in self.identities.values():
            if principal and identity.principal_id != principal[1]:
                continue
            for assigned, role in identity.roles:
                assigned = assigned.lower()
                if above(assigned) or (include_below and below(assigned)):
                    found.append({"id": f"{assigned}/providers/Microsoft.Authorization/roleAssignments/"
                                        f"{uuid.uuid5(uuid.NAMESPACE_URL, assigned + role + identity.principal_id)}",
                                  "type": "Microsoft.Authorization/roleAssignments",
                                  "properties": {"principalId": identity.principal_id, "scope": assigned,
                                                 "principalType": "ServicePrincipal", "roleDefinitionId":
                                                 f"/subscriptions/{self.subscription}/providers/"
                                                 f"Microsoft.Authorization/roleDefinitions/{role}"}})
        return 200, {"value": found}, {}
