"""Who a request belongs to: the tenant its gateway API key names.

Keys are compared as SHA-256 digests (``PolicySet.tenant_for_key``), so a lookup takes the
same time whatever the key; the key itself never leaves this module.
"""

from __future__ import annotations

from starlette.requests import Request

from gateway.errors import Unauthorized
from gateway.policy.compiled import DEFAULT_TENANT, PolicySet


def authenticate(request: Request, policies: PolicySet) -> str:
    """The tenant of a request. With tenants configured, an unknown or missing gateway
    API key is refused before the body is read."""
    if not policies.requires_key:
        return DEFAULT_TENANT
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    tenant = policies.tenant_for_key(token.strip()) if scheme.lower() == "bearer" else None
    if tenant is None:
        raise Unauthorized("Incorrect or missing API key for this gateway.")
    return tenant
