"""Inbound: Millennium users' messages to the Groups that mirror our inboxes, imported through the flow policy.

Each poll reads, per mirrored Group and inbound category (mappings/millennium_inbound.csv), the
window from the stored cursor (less an overlap, for late `received` times) to now, for messages
whose email-status is still `received` or `in-progress`; a window that returns Millennium's cap
of 1,000 is halved until none does. Every message is handled once, in a transaction of its own:

- imported as a Communication from the Millennium user, through the same create as an HTTP POST
  (validation, the flow policy, the duplicate key: the Millennium id, items, outbox, audit); or
- refused: not imported; its Millennium sender gets a `delivery-failure` Communication naming
  the rule (Swedish), through the outbox, and the refusal is audited.

The `millennium_link` row written in that same transaction is what makes it once. Only after the
commit is email-status patched to `completed` (under `If-Match`); a patch that fails is repeated
at the next poll. A window's cursor moves only when every message in it was handled, so a
transient failure (Millennium or the database away) loses nothing: the next poll reads it again.
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from adapter.audit.service import Access, record, touches_patient_data
from adapter.auth.caller import ADAPTER, Caller
from adapter.context import Context
from adapter.delivery.outbox import Delivery, enqueue
from adapter.directory.inboxes import Inbox, inboxes_in_millennium, is_member, load_inboxes
from adapter.directory.models import InboxEntry
from adapter.errors import AdapterError
from adapter.fhir import service as fhir_service
from adapter.fhir import store
from adapter.fhir.registry import PeriodicJob
from adapter.identifiers import HSA_ID, InvalidIdentifier, normalise
from adapter.inbox.models import InboxItem
from adapter.millennium import mapping
from adapter.millennium.client import SEARCH_CAP, MillenniumError
from adapter.millennium.models import MillenniumCursor, MillenniumLink
from adapter.millennium.outbound import DESTINATION, KIND, instant
from adapter.ops import jobs
from adapter.writes import insert_later

JOB_NAME = "millennium-inbound"
POLLED_STATUSES = ("received", "in-progress")  # what no one has finished with yet; we set `completed`
SMALLEST_WINDOW = timedelta(seconds=1)  # Millennium's `received` search has seconds
LINK = MillenniumLink.__table__
CURSOR = MillenniumCursor.__table__
ITEM = InboxItem.__table__
log = logging.getLogger("adapter.millennium")


class Refused(Exception):
    """A Millennium message that is not imported: the rule (if one) and the Swedish reason its sender is told."""

    def __init__(self, rule: str | None, reason_sv: str, *, code: str = "business-rule", caller: Caller | None = None):
        super().__init__(reason_sv)
        self.rule = rule
        self.reason_sv = reason_sv
        self.code = code
        self.caller = caller  # the Millennium user as we know them, when we do (the refusal is audited as theirs)

    @classmethod
    def from_error(cls, error: AdapterError, *, caller: Caller | None) -> "Refused":
        issue = error.issues[0]
        reason = "; ".join(i.diagnostics for i in error.issues)
        hint = mapping.HINTS.get(issue.rule or "")
        return cls(issue.rule, f"{reason} {hint}" if hint else reason, code=issue.code, caller=caller)


@dataclass
class Polled:
    """One poll's counts (no data): what the job's row and the log show."""

    groups: int = 0
    searches: int = 0
    splits: int = 0
    imported: int = 0
    refused: int = 0
    seen: int = 0
    completed: int = 0  # email-status patched to completed
    patch_failures: int = 0
    unfinished: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.groups} groups, {self.searches} searches ({self.splits} splits), {self.imported} imported, "
                f"{self.refused} refused, {self.seen} already handled, {self.patch_failures} patches to retry"
                + (f", unfinished: {' '.join(self.unfinished)}" if self.unfinished else ""))


@dataclass(frozen=True, order=True)
class Mirror:
    """A shared inbox of ours mirrored in Millennium by a Group."""

    group: str
    inbox: str


@dataclass(frozen=True)
class Interpreted:
    """A Millennium message read as ours: the Communication to create and who creates it."""

    resource: dict
    caller: Caller


def _second(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(microsecond=0)


class Poller:
    """Polls every mirrored Group for each inbound category and imports what it finds (see the module)."""

    def __init__(self, app_state, connector):
        self.app = app_state
        self.connector = connector
        self.settings = connector.settings
        self._threads: ThreadPoolExecutor | None = None

    # -- the loop in `mc-adapter worker` ----------------------------------------------------------

    def job(self) -> PeriodicJob:
        """The lease row that makes one worker of the cluster poll at a time."""
        return PeriodicJob(name=JOB_NAME, interval_seconds=max(1, int(self.settings.poll_seconds)), run=None,
                           description="Import Millennium users' messages to mirrored Groups", lease_seconds=900)

    def run_forever(self, stop: threading.Event, *, worker: str) -> None:
        """Poll every `poll_seconds` while this worker holds the lease, until `stop`."""
        jobs.run_leased(self.app, self.job(), stop, worker=worker, run=self._logged_poll, pause=self.settings.poll_seconds)

    def _logged_poll(self) -> str:
        summary = self.poll_once().summary()
        log.info("millennium poll: %s", summary)
        return summary

    # -- one poll ---------------------------------------------------------------------------------

    def poll_once(self) -> Polled:
        """Read every mirrored Group's new messages once; the counts."""
        polled = Polled()
        for mirror in self._mirrors():
            polled.groups += 1
            for category in mapping.inbound_categories():
                try:
                    self._poll(mirror, category, polled)
                except MillenniumError as exc:
                    polled.unfinished.append(f"Group/{mirror.group}:{category}")
                    log.warning("millennium poll of Group/%s (%s) stopped: %s", mirror.group, category, exc.reason)
        return polled

    def _context(self, session, caller: Caller = ADAPTER) -> Context:
        return Context(session=session, config=self.app.config, registry=self.app.registry, validator=self.app.validator,
                       caller=caller, clock=self.app.clock)

    def _mirrors(self) -> list[Mirror]:
        table = InboxEntry.__table__
        with self.app.sessions.begin() as session:
            rows = session.execute(select(table.c.reference, table.c.millennium).where(
                table.c.millennium.is_not(None), table.c.kind != "personal", table.c.party != "care",
                table.c.active.is_(True))).all()
        return sorted(Mirror(row.millennium.split("/", 1)[1], row.reference) for row in rows if row.millennium.startswith("Group/"))

    def _poll(self, mirror: Mirror, category: str, polled: Polled) -> None:
        now = _second(self.app.clock())
        with self.app.sessions.begin() as session:
            through = session.execute(select(CURSOR.c.through).where(
                CURSOR.c.group_id == mirror.group, CURSOR.c.category == category)).scalar()
        start = (_second(through) - timedelta(seconds=self.settings.overlap_seconds) if through is not None
                 else now - timedelta(seconds=self.settings.first_window_seconds))
        complete = True
        for status in POLLED_STATUSES:
            complete &= self._window(mirror, category, status, start, now, polled)
        if complete:
            self._advance(mirror, category, now)
        else:
            polled.unfinished.append(f"Group/{mirror.group}:{category}")

    def _advance(self, mirror: Mirror, category: str, through: datetime) -> None:
        """Move the cursor forward (never back: another poller may have gone further)."""
        key = (CURSOR.c.group_id == mirror.group, CURSOR.c.category == category)
        for attempt in (1, 2):
            try:
                with self.app.sessions.begin() as session:
                    if session.execute(select(CURSOR.c.through).where(*key)).first() is None:
                        session.execute(insert(CURSOR).values(group_id=mirror.group, category=category, through=through))
                    else:
                        session.execute(update(CURSOR).where(*key, CURSOR.c.through < through).values(through=through))
                return
            except IntegrityError:  # another poller inserted it first: update it the second time round
                if attempt == 2:
                    raise

    def _window(self, mirror: Mirror, category: str, status: str, start: datetime, end: datetime, polled: Polled) -> bool:
        """Handle one window (split while it returns the cap); True when everything in it was handled."""
        found = self._search(mirror, category, status, start, end, polled)
        if len(found) >= SEARCH_CAP and end - start > SMALLEST_WINDOW:
            polled.splits += 1
            middle = _second(start + (end - start) / 2)
            first = self._window(mirror, category, status, start, middle, polled)
            return self._window(mirror, category, status, middle, end, polled) and first
        handled = self._handle_all(found, mirror, polled)
        # A one-second window holding the cap: what was handled is `completed` now, so the same search shows the rest.
        while len(found) >= SEARCH_CAP:
            if handled == 0:
                return False  # nothing changed there (patches failing): try the window again at the next poll
            found = self._search(mirror, category, status, start, end, polled)
            handled = self._handle_all(found, mirror, polled)
        return True

    def _search(self, mirror: Mirror, category: str, status: str, start: datetime, end: datetime, polled: Polled) -> list[dict]:
        polled.searches += 1
        return self.connector.client.search_communications([
            ("category", category), ("recipient:Group", f"Group/{mirror.group}"),
            ("received", f"ge{instant(start)}"), ("received", f"le{instant(end)}"),
            ("-email-status", f"{mapping.TASK_STATUS}|{status}")])

    def _handle_all(self, found: list[dict], mirror: Mirror, polled: Polled) -> int:
        """Handle a search's messages: how many left the search (patched to completed).

        Millennium's round trips (a Binary read, a Patient read, the patch) run on the poller's
        threads; the imports run one after another, oldest first, so that a reply finds the
        message it answers imported before it.
        """
        before = polled.completed
        messages = sorted((m for m in found if isinstance(m.get("id"), str) and m["id"]),
                          key=lambda m: (str(m.get("received") or ""), m["id"]))
        linked = self._linked([m["id"] for m in messages])
        fresh = [m for m in messages if m["id"] not in linked]
        polled.seen += len(messages) - len(fresh)
        failure: MillenniumError | None = None
        for message, fetched in zip(fresh, self._pool().map(self._fetch, fresh)):
            if isinstance(fetched, MillenniumError):
                failure = failure or fetched  # not handled: the window is read again at the next poll
                continue
            outcome = self.handle(message, mirror=mirror, fetched=fetched)
            linked.add(message["id"])
            if outcome == "imported":
                polled.imported += 1
            elif outcome.startswith("refused"):
                polled.refused += 1
            else:
                polled.seen += 1
        handled = [m for m in messages if m["id"] in linked]
        for done in self._pool().map(self._complete, handled):
            polled.completed += done is True
            polled.patch_failures += done is False
        if failure is not None:
            raise failure
        return polled.completed - before

    def _pool(self) -> ThreadPoolExecutor:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=self.settings.inbound_threads, thread_name_prefix="millennium-in")
        return self._threads

    # -- one message ------------------------------------------------------------------------------

    def _linked(self, millennium_ids: list[str]) -> set[str]:
        """Which of these Millennium messages were handled already (one query)."""
        if not millennium_ids:
            return set()
        with self.app.sessions.begin() as session:
            return set(session.execute(select(LINK.c.millennium_id).where(LINK.c.millennium_id.in_(millennium_ids))).scalars())

    def _fetch(self, found: dict):
        """(text, patient) read from Millennium, a Refused, or the transient MillenniumError that stopped it."""
        wrong = mapping.malformed(found)
        if wrong:
            return Refused(None, f"Meddelandet kan inte läsas ({wrong}).", code="structure")
        try:
            return self._text(found), self._patient(found)
        except Refused as refused:
            return refused
        except MillenniumError as exc:
            return exc

    def handle(self, found: dict, *, mirror: Mirror, fetched) -> str:
        """Import or refuse one Millennium message (once); the outcome."""
        if isinstance(fetched, Refused):
            return self._refuse(found, fetched, patient=None)
        text, patient = fetched
        try:
            return self._import(found, mirror, text=text, patient=patient)
        except Refused as refused:
            return self._refuse(found, refused, patient=patient)
        except IntegrityError:  # another poller linked it first
            return "seen"

    def _text(self, found: dict) -> str:
        payloads = found.get("payload") or []
        reference = ((payloads[0] if payloads else {}).get("contentReference") or {}).get("reference")
        if not reference:
            raise Refused(None, "Meddelandet saknar innehåll.", code="required")
        try:
            content_type, data = self.connector.client.read_binary(reference)
            return mapping.read_text(content_type, data)
        except mapping.Undeliverable as exc:
            raise Refused(None, f"Meddelandets innehåll kan inte läsas ({exc}).", code="invalid") from None
        except MillenniumError as exc:
            if exc.transient:
                raise
            raise Refused(None, "Meddelandets innehåll kunde inte hämtas.", code="not-found") from None

    def _patient(self, found: dict) -> dict | None:
        patient_id = mapping.reference_id(found.get("subject"), "Patient")
        if found.get("subject") and patient_id is None:
            raise Refused(None, "Meddelandets patient kan inte läsas.", code="invalid")
        if patient_id is None:
            return None
        try:
            value = self.connector.client.patient_identifier(patient_id, system=self.settings.patient_system)
        except MillenniumError as exc:
            if exc.transient:
                raise
            value = None
        try:
            system, value = normalise(self.settings.patient_system, value) if value is not None else (None, None)
        except InvalidIdentifier:
            value = None
        if value is None:
            raise Refused(None, "Patienten saknar giltigt personnummer i Millennium och kan inte anges i meddelandet.",
                          code="not-found")
        return {"system": system, "value": value}

    def _import(self, found: dict, mirror: Mirror, *, text: str, patient: dict | None) -> str:
        """One transaction: the Communication created as the Millennium user would over HTTP, and its link."""
        caller = None
        try:
            with self.app.sessions.begin() as session:
                ctx = self._context(session)
                interpreted = interpret(ctx, found=found, mirror=mirror, text=text, patient=patient)
                caller = interpreted.caller
                acting = replace(ctx, caller=interpreted.caller)
                stored, created = fhir_service.create(acting, resource=interpreted.resource, expected_type="Communication")
                if created and touches_patient_data([stored.as_dict()]):
                    record(acting, Access(interaction="create", resources=[stored.as_dict()]))
                # Sent with the message's own inserts; its primary key stops a second poller (IntegrityError: seen).
                insert_later(session.connection(), LINK, [dict(millennium_id=found["id"], direction="in", communication_id=stored.id,
                                                               outcome="imported" if created else "duplicate", at=ctx.clock())])
                return "imported" if created else "seen"
        except AdapterError as error:
            raise Refused.from_error(error, caller=caller) from None

    def _refuse(self, found: dict, refused: Refused, *, patient: dict | None) -> str:
        """One transaction: the link, the audited refusal, and the notice to the Millennium sender (MC-R22)."""
        outcome = f"refused {refused.rule or refused.code}"[:40]
        with self.app.sessions.begin() as session:
            ctx = self._context(session)
            if session.execute(select(LINK.c.millennium_id).where(LINK.c.millennium_id == found["id"])).first():
                return "seen"
            session.execute(insert(LINK).values(millennium_id=found["id"], direction="in", communication_id=None,
                                                outcome=outcome, at=ctx.clock()))
            record(replace(ctx, caller=refused.caller or ADAPTER), Access(interaction="create", outcome="4",
                               description=f"Millennium Communication {found['id']} not imported: {refused.rule or refused.code}",
                               patients=[(patient["system"], patient["value"])] if patient else []))
            sender = mapping.reference_id(found.get("sender"), "Practitioner")
            if sender:
                notice_id = str(uuid.uuid4())
                notice = mapping.failure_notice(to_practitioner=sender, sender_practitioner=self.settings.integration_practitioner,
                                                about=found, rule=refused.rule, reason_sv=refused.reason_sv, notice_id=notice_id)
                enqueue(session, deliveries=[Delivery(KIND, DESTINATION, {"communication": notice, "items": [], "recipients": [],
                                                                          "notice": True}, f"Communication/{notice_id}")],
                        now=ctx.clock())
        log.info("millennium message %s not imported: %s", found["id"], refused.rule or refused.code)
        return outcome

    def _complete(self, found: dict) -> bool | None:
        """Patch email-status to completed: True when done, None when it already was, False when it failed."""
        if mapping.email_status(found) == "completed":
            return None
        version = str((found.get("meta") or {}).get("versionId") or "0")
        try:
            self.connector.client.patch_email_status(found["id"], version=version, status="completed")
            return True
        except MillenniumError as exc:  # still `received` there: the next poll finds it, sees the link, patches again
            log.warning("millennium email-status of %s not patched: %s", found["id"], exc.reason)
            return False


# -- reading a Millennium message as ours (in the import's transaction) ---------------------------


def interpret(ctx, *, found: dict, mirror: Mirror, text: str, patient: dict | None) -> Interpreted:
    """Who sent it (the Millennium user, from which inbox), to which of our inboxes, answering what."""
    sender_mid = mapping.reference_id(found.get("sender"), "Practitioner")
    if sender_mid is None:
        raise Refused(None, "Avsändaren är inte en användare i Millennium.", code="invalid")
    group_ids = [f"Group/{g}" for g in (mapping.reference_id(r, "Group") for r in found.get("recipient", [])) if g]
    reply_to = mapping.reply_to(found)
    known = inboxes_in_millennium(ctx, [f"Practitioner/{sender_mid}", *group_ids, *([f"Group/{reply_to}"] if reply_to else [])])
    user_inbox = known.get(f"Practitioner/{sender_mid}")
    if user_inbox is None or not user_inbox.is_personal:
        raise Refused("MC-R1", "Avsändaren finns inte i katalogen som användare med Millennium-id; "
                               "meddelandet kan inte visa vem som skickade det.")
    user = store.load_current(ctx.session, resource_type="Practitioner", resource_id=user_inbox.id)
    hsa_id = next((i.get("value") for i in (user.as_dict() if user else {}).get("identifier", []) if i.get("system") == HSA_ID), None)
    caller = Caller(kind="user", hsa_id=hsa_id, practitioner_id=user_inbox.id)
    recipients = [known[g].reference for g in group_ids if g in known and known[g].mirror_group]
    if mirror.inbox not in recipients:
        recipients.insert(0, mirror.inbox)
    parent = _parent(ctx, found)
    sender = _sending_inbox(ctx, user_inbox=user_inbox, parent=parent, reply_to=known.get(f"Group/{reply_to}") if reply_to else None)
    case = _case_of(ctx, parent, sender=sender) if parent is not None else None
    answers = "case" if case else ("message" if parent is not None else "nothing")
    category = mapping.inbound_category(_millennium_category(found), answers=answers)
    if category is None:
        raise Refused(None, "Meddelandets kategori tas inte emot av Meddelandecenter.", code="code-invalid")
    resource = mapping.from_millennium(found=found, text=text, category=category, sender=sender.reference,
                                       sent_by=None if sender.is_personal else user_inbox.id, recipients=recipients,
                                       answers=parent["id"] if parent else None, case=case, patient=patient)
    return Interpreted(resource, caller)


def _millennium_category(found: dict) -> str:
    codings = [c for cc in found.get("category", []) for c in cc.get("coding", []) if c.get("system") == mapping.CATEGORY_SYSTEM]
    return codings[0].get("code", "") if codings else ""


def _parent(ctx, found: dict) -> dict | None:
    """The message of ours a Millennium reply answers (`inResponseTo` a Communication we sent or imported)."""
    answered = (found.get("inResponseTo") or [None])[0]
    millennium_id = mapping.reference_id(answered, "Communication")
    if millennium_id is None:
        return None
    ours = ctx.session.execute(select(LINK.c.communication_id).where(LINK.c.millennium_id == millennium_id)).scalar()
    stored = store.load_current(ctx.session, resource_type="Communication", resource_id=ours) if ours else None
    return stored.as_dict() if stored is not None else None


def _sending_inbox(ctx, *, user_inbox: Inbox, parent: dict | None, reply_to: Inbox | None) -> Inbox:
    """The inbox the Millennium user answers from: the pool the answered message reached (if a member),
    else the pool named by reply-to (if a member), else the user's personal inbox (MC-R38)."""
    candidates: list[Inbox] = []
    if parent is not None:
        references = [r.get("reference") for r in parent.get("recipient", []) if isinstance(r.get("reference"), str)]
        loaded = load_inboxes(ctx, references)
        candidates += [loaded[r] for r in references if r in loaded and loaded[r].in_millennium]
    if reply_to is not None and reply_to.in_millennium:
        candidates.append(reply_to)
    for inbox in candidates:
        if inbox.is_personal and inbox.reference == user_inbox.reference:
            return inbox
        if not inbox.is_personal and is_member(ctx, practitioner_id=user_inbox.id, inbox=inbox):
            return inbox
    return user_inbox


def _case_of(ctx, parent: dict, *, sender: Inbox) -> str | None:
    """The case the answered message belongs to: its partOf, or the case its case-start opened at `sender`."""
    for part in parent.get("partOf", []):
        case = mapping.reference_id(part, "Task")
        if case:
            return case
    rows = ctx.session.execute(select(ITEM.c.task_id, ITEM.c.owner).where(
        ITEM.c.focus == f"Communication/{parent['id']}", ITEM.c.kind == "case")).all()
    mine = [row.task_id for row in rows if row.owner == sender.reference]
    return (mine or [row.task_id for row in rows] or [None])[0]
