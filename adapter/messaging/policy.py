"""The flow policy: may this message go from this inbox to that one? (DESIGN.md, "Flow rules are data").

Pure Python. The rows live in `mappings/flow_rules.csv`, first match wins, each citing its rule;
the last row is a catch-all that tests prove unreachable. Imports neither Flask nor SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from adapter.directory.rules import party_of  # noqa: F401  (re-exported: the policy's party dimension)
from adapter.errors import RuleViolation
from adapter.mappings import codes, table

SHARED_INBOXES = frozenset({"unit-meddelande", "unit-samverkan", "function"})
INBOXES = SHARED_INBOXES | {"personal"}
PARTIES = frozenset({"care", "municipal", "school-other", "unassigned"})
CALLERS = frozenset({"user", "client", "ehr", "adapter"})  # ehr: a client registered as the EHR integration
_ALIASES = {"shared": SHARED_INBOXES}
_FLAGS = {"yes": True, "no": False}


@dataclass(frozen=True)
class Endpoint:
    """One end of a message: the kind of inbox, whose it is, and at which care providers (MC-R3)."""

    inbox: str  # "personal" or an inbox-kind
    party: str  # "care", "municipal", "school-other" or "unassigned"
    providers: frozenset[str] = frozenset()  # a shared inbox's unit's provider; a user's acting one(s)


@dataclass(frozen=True)
class Flow:
    """Everything the policy looks at for one sender-recipient pair."""

    category: str
    sender: Endpoint
    recipient: Endpoint
    caller: str  # "user", "client", "ehr" or "adapter"
    patient: bool
    save_to_journal: bool
    to_self: bool = False
    dialogue_held: bool = False
    reply_to_shared: bool = False  # it answers (inResponseTo) a message sent from a shared inbox (MC-R38)

    @property
    def same_provider(self) -> bool:
        """Both ends are at one and the same care provider (a recipient's user at every provider they
        work for: one other provider makes the exchange cross-provider, MC-R3)."""
        return len(self.sender.providers | self.recipient.providers) == 1


@dataclass(frozen=True)
class Decision:
    """Allow or reject, with the rule and the row that decided."""

    allowed: bool
    rule: str
    reason_en: str
    reason_sv: str
    expression: str | None
    row: int


class FlowBlocked(RuleViolation):
    """The routine forbids this flow."""

    def __init__(self, decision: Decision, expression: str | None = None):
        super().__init__(decision.rule, decision.reason_en, decision.reason_sv, expression or decision.expression)
        self.decision = decision


def _cell(value: str, universe: frozenset[str] | None) -> frozenset | None:
    """A table cell as the set it allows; None for `*`."""
    if value == "*":
        return None
    allowed: set = set()
    for part in value.split("|"):
        if part in _FLAGS:
            allowed.add(_FLAGS[part])
        else:
            allowed |= _ALIASES.get(part, {part})
    if universe is not None:
        unknown = {v for v in allowed if not isinstance(v, bool)} - universe
        if unknown:
            raise ValueError(f"flow_rules.csv: unknown value(s) {sorted(unknown)}")
    return frozenset(allowed)


_FIELDS = (
    ("category", lambda f: f.category),
    ("sender_inbox", lambda f: f.sender.inbox),
    ("sender_party", lambda f: f.sender.party),
    ("recipient_inbox", lambda f: f.recipient.inbox),
    ("recipient_party", lambda f: f.recipient.party),
    ("caller", lambda f: f.caller),
    ("patient", lambda f: f.patient),
    ("save_to_journal", lambda f: f.save_to_journal),
    ("to_self", lambda f: f.to_self),
    ("dialogue_held", lambda f: f.dialogue_held),
    ("same_provider", lambda f: f.same_provider),
    ("reply_to_shared", lambda f: f.reply_to_shared),
)


class FlowPolicy:
    """The rows of the table, compiled once; `decide` is a pure function of a Flow."""

    def __init__(self, rows: tuple[dict, ...]):
        universes = {
            "category": codes("message-category"), "sender_inbox": INBOXES, "recipient_inbox": INBOXES,
            "sender_party": PARTIES, "recipient_party": PARTIES, "caller": CALLERS,
        }
        self._rows = []
        for row in sorted(rows, key=lambda r: int(r["order"])):
            matchers = tuple(
                (getter, cell)
                for name, getter in _FIELDS
                if (cell := _cell(row[name], universes.get(name))) is not None
            )
            decision = Decision(
                allowed=row["decision"] == "allow", rule=row["rule"], reason_en=row["reason_en"],
                reason_sv=row["reason_sv"], expression=row["expression"] or None, row=int(row["order"]),
            )
            self._rows.append((matchers, decision))
        # A pure function of a (frozen, hashable) Flow, and few distinct flows occur: decide each once.
        self._decide = lru_cache(maxsize=4096)(self._first_matching_row)

    @classmethod
    def from_table(cls) -> "FlowPolicy":
        """The policy of `mappings/flow_rules.csv`."""
        return cls(table("flow_rules"))

    @property
    def catch_all_row(self) -> int:
        """The order number of the last row (the catch-all)."""
        return self._rows[-1][1].row

    def decide(self, flow: Flow) -> Decision:
        """The first row matching `flow` decides."""
        return self._decide(flow)

    def _first_matching_row(self, flow: Flow) -> Decision:
        for matchers, decision in self._rows:
            if all(getter(flow) in allowed for getter, allowed in matchers):
                return decision
        raise AssertionError("flow_rules.csv has no catch-all row")

    def check(self, flow: Flow, *, expression: str | None = None) -> Decision:
        """`decide`, raising FlowBlocked on a rejection."""
        decision = self.decide(flow)
        if not decision.allowed:
            raise FlowBlocked(decision, expression)
        return decision


@dataclass(frozen=True)
class Routine:
    """The version of the regional routine the table implements."""

    document: str
    version: str
    valid_from: date
    valid_to: date
    title: str

    @classmethod
    def from_table(cls) -> "Routine":
        row = table("routine")[0]
        return cls(row["document"], row["version"], date.fromisoformat(row["valid_from"]),
                   date.fromisoformat(row["valid_to"]), row["title"])

    def expired_on(self, today: date) -> bool:
        """True once the routine is past its validity date (the region should issue a new one)."""
        return today > self.valid_to

    def warning(self, today: date) -> str | None:
        """What operators are told once the routine has expired (serve, the periodic check, `rules`)."""
        if not self.expired_on(today):
            return None
        return (f"routine {self.document} version {self.version} was valid until {self.valid_to}; ask the region for "
                "the current version and update mappings/ (the code does not change)")

    def status(self, today: date) -> dict:
        """For `/readyz` details and the metrics."""
        return {"document": self.document, "version": self.version, "validTo": self.valid_to.isoformat(),
                "expired": self.expired_on(today)}
