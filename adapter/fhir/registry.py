"""What the FHIR base serves: resource types, their search parameters, hooks and operations.

Domains register themselves into one `Registry` in the composition root; the
CapabilityStatement is generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

# Every type supports these; they are served by the base itself.
COMMON_SEARCH_PARAMS = ("_id", "_lastUpdated")
RESULT_PARAMS = ("_count", "_sort", "_include", "_cursor", "_format", "_total", "_summary", "_pretty")
SORT_KEYS = ("_lastUpdated", "-_lastUpdated", "_id", "-_id")
INTERACTIONS = ("read", "vread", "update", "create", "search-type", "history-instance")
WITH_PATCH = INTERACTIONS + ("patch",)


@dataclass(frozen=True)
class SearchParam:
    """A search parameter evaluated from simple element paths at write time."""

    name: str
    type: str  # "token", "reference" or "date"
    paths: tuple[str, ...]
    description: str
    targets: tuple[str, ...] = ()
    definition: str | None = None  # canonical URL of the SearchParameter


@dataclass
class ResourceDefinition:
    """One resource type served under `/fhir/<name>`."""

    name: str
    search_params: dict[str, SearchParam] = field(default_factory=dict)
    # (ctx, resource, previous content or None) -> None; raise UnprocessableResource to refuse.
    profile: Callable | None = None
    # (ctx, stored content, previous content or None) -> None; side effects in the same transaction.
    after_write: Callable | None = None
    # (ctx, stored contents) -> None: the after-write hook for several new resources at once.
    after_write_many: Callable | None = None
    # Identifier systems whose values name exactly one resource of this type.
    unique_identifier_systems: tuple[str, ...] = ()
    profile_url: str | None = None
    # (ctx, *, resource, resource_id) -> (Stored, created): a domain that owns its create
    # (e.g. messaging: duplicate key, flow policy, items) takes over after normalisation.
    create_handler: Callable | None = None
    # (ctx, *, params, strict, cursors) -> Bundle text: a domain that serves its own searches
    # (e.g. the inbox feed of Task) instead of the generic index search.
    search_handler: Callable | None = None
    # False when the domain indexes the type itself (Task: `inbox_item`), to spare every write
    # the generic index rows no search reads.
    generic_index: bool = True
    # (ctx, resource, references) -> None: the reads a write of this type will need, made ahead
    # and together (one round trip) before its references are checked; they fill the caches the
    # later checks read (messaging: a message's inboxes, membership and duplicate key).
    read_ahead: Callable | None = None
    # True where a create's reads may come from a snapshot taken before its writes (READ
    # COMMITTED, as on PostgreSQL): on SQLite its write lock is then held only while it writes
    # (`db.snapshot_reads`). Only for creates whose races the constraints catch.
    reads_committed: bool = False
    # (ctx, ids) -> set of the ids that exist: a cheaper existence check for references than
    # loading the resources (the directory answers from its read model).
    exists_many: Callable | None = None
    # (ctx, id column) -> SQL condition or None: which stored resources of this type the caller
    # may see, applied inside every query (reads, searches, conditional requests, `_include`,
    # references in writes); what it may not see is 404 or absent, never counted. A hook that
    # returns None, or no hook, means every caller sees every resource of the type.
    visibility: Callable | None = None
    # Record which system client's organisation created a resource (its own results, orders,
    # documents are what a client sees: `resource_origin`).
    records_origin: bool = False
    # Updates must name the version they change (428 without If-Match), e.g. inbox items.
    require_if_match: bool = False
    # (ctx, id) -> Stored or None: a type served from elsewhere than the resource table (the
    # conformance resources: StructureDefinition, ValueSet, ...) answers its own reads.
    read_handler: Callable | None = None
    # True for what is no one's data (conformance resources): any caller with a token reads it,
    # whatever its scopes.
    any_scope: bool = False
    interactions: tuple[str, ...] = INTERACTIONS
    # Extensions on the type's CapabilityStatement entry (e.g. the topics a Subscription may name).
    capability_extensions: tuple[dict, ...] = ()

    @property
    def update_creates(self) -> bool:
        """Whether PUT to a new id creates (only types whose creates need no domain flow: the directory)."""
        return self.create_handler is None and "create" in self.interactions

    def allowed_methods(self, level: str) -> tuple[str, ...]:
        """The HTTP methods `/fhir/<type>` (level "type") or `/fhir/<type>/<id>` ("instance") answers (405's `Allow`)."""
        offered = self.interactions
        if level == "type":
            pairs = (("GET", "search-type"), ("HEAD", "search-type"), ("POST", "create"), ("POST", "search-type"), ("PUT", "update"))
        else:
            pairs = (("GET", "read"), ("HEAD", "read"), ("PUT", "update"), ("PATCH", "patch"))
        return tuple(dict.fromkeys(method for method, interaction in pairs if interaction in offered))

    @property
    def includes(self) -> tuple[str, ...]:
        """`_include` values: every reference search parameter."""
        return tuple(f"{self.name}:{p.name}" for p in self.search_params.values() if p.type == "reference")


@dataclass(frozen=True)
class OperationParameter:
    """One parameter of an operation, as its OperationDefinition lists it."""

    name: str
    use: str  # "in" or "out"
    type: str
    documentation: str
    min: int = 0
    max: str = "1"
    target_profile: str | None = None


@dataclass(frozen=True)
class Operation:
    """An instance-level operation, `POST /fhir/<type>/<id>/$<name>`."""

    resource_type: str
    name: str
    handler: Callable  # (ctx, resource_id, parameters dict) -> (status, body dict)
    description: str
    definition: str | None = None
    parameters: tuple[OperationParameter, ...] = ()
    # Changes nothing: also `GET /fhir/<type>/<id>/$<name>?<parameters>` (e.g. Subscription/$status).
    idempotent: bool = False


@dataclass(frozen=True)
class TypeOperation:
    """A type-level operation, `POST /fhir/<type>/$<name>` (e.g. `$validate`)."""

    name: str
    handler: Callable  # (ctx, definition, body dict) -> (status, body dict)
    description: str
    resource_types: tuple[str, ...] = ()  # () = every served type
    definition: str | None = None
    parameters: tuple = ()


@dataclass(frozen=True)
class PeriodicJob:
    """Work a worker runs once per `interval_seconds` across the cluster (adapter/ops/jobs.py)."""

    name: str
    interval_seconds: int
    run: Callable  # (sessions, now) -> str: a short summary (counts only, never data); commits its own batches
    description: str
    lease_seconds: int = 600  # how long one run may hold the job before another worker may take it


@dataclass(frozen=True)
class SystemOperation:
    """A system-level operation, `POST /fhir/$<name>`; the handler answers the whole HTTP exchange."""

    name: str
    handler: Callable  # (ctx, body dict, query args) -> (status, body text, headers dict)
    description: str
    definition: str | None = None


class Registry:
    """Resource types and operations the adapter serves."""

    def __init__(self) -> None:
        self.resources: dict[str, ResourceDefinition] = {}
        self.operations: dict[tuple[str, str], Operation] = {}
        self.listeners: dict[str, list[Callable]] = {}
        # What leaves the adapter, by outbox kind: (entry, destination, client, now) -> Attempted
        # (adapter/delivery). A domain that writes outbox rows of a kind registers its deliverer.
        self.deliverers: dict[str, Callable] = {}
        self.system_operations: dict[str, SystemOperation] = {}
        self.type_operations: dict[str, TypeOperation] = {}
        self.periodic_jobs: dict[str, PeriodicJob] = {}
        # What `/readyz` details and the metrics report per domain: name -> (now) -> dict (no data).
        self.status_reports: dict[str, Callable] = {}
        # Values computed once from the registry and the configuration (e.g. the conformance library).
        self.derived: dict = {}
        # CapabilityStatement.rest.messaging entries a domain declares (e.g. $process-message's events).
        self.messaging: list[Callable] = []  # (base_url) -> dict
        # Loaders of what a write's references name, called once with all of them before they are
        # checked, so that a domain answers every type it owns in one query (e.g. both inbox types).
        self.reference_prefetchers: list[Callable] = []  # (ctx, ["Type/id", ...]) -> None
        # Systems upstream of some inboxes (e.g. Millennium, adapter/millennium): each has
        # `carries(ctx, inbox=, item_kind=) -> bool` and `queue(ctx, message=, route=, items=)`, called
        # by messaging in the message's transaction, so a carried message has its outbox row.
        self.upstreams: list = []
        # Definitional resources a domain publishes read-only beside the conformance resources, by type:
        # (base_url) -> [resource dicts] (e.g. the SubscriptionTopic, as R4 Basic). Registered before conformance.
        self.published: dict[str, list[Callable]] = {}
        # CapabilityStatements this server instantiates (e.g. the Subscriptions Backport's server).
        self.instantiates: list[str] = []
        # Destinations a domain owns, by name prefix (e.g. "Subscription/"): (session, name) -> Destination,
        # so that the worker resolves them without knowing the domain (its secrets stay with it).
        self.destination_resolvers: dict[str, Callable] = {}

    def on(self, event: str, listener: Callable) -> None:
        """Call `listener(ctx, **details)` when a domain emits `event` (e.g. "unit-merged")."""
        self.listeners.setdefault(event, []).append(listener)

    def emit(self, ctx, event: str, **details) -> None:
        """Tell the other domains, in the same transaction, that something happened."""
        for listener in self.listeners.get(event, []):
            listener(ctx, **details)

    def add_resource(self, definition: ResourceDefinition) -> None:
        """Serve a resource type."""
        self.resources[definition.name] = definition

    def add_operation(self, operation: Operation) -> None:
        """Serve an instance operation."""
        self.operations[(operation.resource_type, operation.name)] = operation

    def add_system_operation(self, operation: SystemOperation) -> None:
        """Serve `POST /fhir/$<name>`."""
        self.system_operations[operation.name] = operation

    def add_status_report(self, name: str, report: Callable) -> None:
        """Report `report(now)` (a small dict, never patient data) in `/readyz` details."""
        self.status_reports[name] = report

    def add_periodic_job(self, job: PeriodicJob) -> None:
        """Run `job` from the workers, once per interval across every host."""
        self.periodic_jobs[job.name] = job

    def add_type_operation(self, operation: TypeOperation) -> None:
        """Serve `POST /fhir/<type>/$<name>`."""
        self.type_operations[operation.name] = operation

    def add_deliverer(self, kind: str, deliverer: Callable) -> None:
        """Deliver outbox rows of `kind` with `deliverer` (adapter/delivery/worker.py)."""
        self.deliverers[kind] = deliverer

    def add_upstream(self, upstream) -> None:
        """Carry messages to the inboxes `upstream` says it carries (see `upstreams`)."""
        self.upstreams.append(upstream)

    def add_destination_resolver(self, prefix: str, resolver: Callable) -> None:
        """Resolve outbox destinations named `<prefix>...` with `resolver(session, name)`."""
        self.destination_resolvers[prefix] = resolver

    def add_reference_prefetcher(self, prefetcher: Callable) -> None:
        """Call `prefetcher(ctx, references)` with every literal reference of a write, before they are checked."""
        self.reference_prefetchers.append(prefetcher)

    def resource(self, name: str) -> ResourceDefinition | None:
        """The definition of a served type, or None."""
        return self.resources.get(name)
