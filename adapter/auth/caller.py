"""Who is calling: a user acting under an assignment, a system client, or the adapter itself."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Caller:
    """The identity a request acts as (DESIGN.md, "Security")."""

    kind: str  # "user", "client", "sandbox-operator" (sandbox mode only) or "adapter"
    hsa_id: str | None = None  # the user's HSA-id
    practitioner_id: str | None = None
    unit_hsa_id: str | None = None  # the assignment's unit, when the token names one
    roles: frozenset[str] = field(default_factory=frozenset)  # role codes (at the unit, if named)
    client_name: str | None = None
    organization_hsa_id: str | None = None  # a system client's organisation
    scopes: str | None = None  # SMART scopes of an access token; None: not limited by scopes
    # A registered client's roles (mappings/client_capabilities.csv), e.g. "ehr", "result-source".
    capabilities: frozenset[str] = field(default_factory=frozenset)

    def can(self, capability: str) -> bool:
        """Whether the caller is a system client registered with `capability`."""
        return self.kind == "client" and capability in self.capabilities

    @property
    def is_adapter(self) -> bool:
        return self.kind == "adapter"

    def describe(self) -> str:
        """A log-safe description (HSA-ids are staff and unit ids, not patient data)."""
        if self.kind == "user":
            return f"user {self.hsa_id}" + (f" at {self.unit_hsa_id}" if self.unit_hsa_id else "")
        if self.kind == "client":
            return f"client {self.client_name} of {self.organization_hsa_id}"
        return self.kind


ADAPTER = Caller(kind="adapter")
# The sandbox's operator token (`mc-adapter token --operator`, sandbox mode only): what integrators
# use to explore the synthetic data; förvaltning's rights, and sight of every inbox.
SANDBOX_OPERATOR = Caller(kind="sandbox-operator", roles=frozenset({"forvaltning"}))
