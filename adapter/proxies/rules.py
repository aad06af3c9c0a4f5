"""The proxy rules as plain Python (MC-R40 to MC-R44), over the roles table in `mappings/`."""

from __future__ import annotations

from datetime import datetime

from adapter.errors import Forbidden, RuleViolation
from adapter.mappings import table


def grants_proxies(role: str) -> bool:
    """Medicinsk sekreterare, enhetschef and verksamhetschef administer proxies (MC-R40)."""
    return any(r["code"] == role and r["grants_proxies"] == "true" for r in table("roles"))


def decides_proxy_period(role: str) -> bool:
    """Enhetschef and verksamhetschef decide how long a proxy right lasts (MC-R42)."""
    return any(r["code"] == role and r["decides_proxy_period"] == "true" for r in table("roles"))


def check_grant(*, grantor_id: str, principal_id: str, proxy_id: str, grantor_administers: bool,
                decider_decides: bool, start: datetime, end: datetime, principal_operations: int,
                acknowledged: bool, same_operation: bool = True) -> None:
    """Refuse a grant the routine forbids; return quietly when it may be made."""
    if grantor_id == principal_id:
        raise RuleViolation("MC-R40", "Nobody grants proxy rights on their own inbox.",
                            "Ombudsbehörighet får inte ges på den egna inkorgen.", "principal")
    if not grantor_administers:
        raise Forbidden.simple("only a medicinsk sekreterare, enhetschef or verksamhetschef of the principal's unit "
                               "(or of the verksamhet above it) grants proxy rights (MC-R40)")
    if principal_id == proxy_id:
        raise RuleViolation("MC-R40", "A user cannot be their own proxy.", "En användare kan inte vara sitt eget ombud.", "proxy")
    if not same_operation:
        # Proxy and principal belong to one operation; so no municipal proxy for a region user (MC-R7).
        raise RuleViolation("MC-R40", "The proxy and the principal belong to the same operation (verksamhet).",
                            "Ombud och huvudman tillhör samma verksamhet.", "proxy")
    if not decider_decides:
        raise RuleViolation("MC-R42", "The period is decided by an enhetschef or verksamhetschef of the principal's unit.",
                            "Enhetschef eller verksamhetschef beslutar om behörighetens längd.", "decided_by")
    if end <= start:
        raise RuleViolation("MC-R41", "A proxy right covers a fixed period: end after start.",
                            "Ombudsbehörigheten gäller en bestämd period.", "end")
    if principal_operations > 1 and not acknowledged:
        raise RuleViolation(
            "MC-R41",
            "The principal works in several operations: the proxy will see messages of all of them, without seeing which "
            "operation a message belongs to. Acknowledge this (acknowledge_multiple_operations) to grant.",
            "Användaren arbetar i flera verksamheter: ombudet ser meddelanden från alla. Bekräfta för att ge behörigheten.",
            "acknowledge_multiple_operations",
        )
