"""Bundles rendered from stored JSON text: resources are spliced in, never re-serialised."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from adapter.fhir.search import SearchPage
from adapter.fhir.store import Stored, instant


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def entry(stored: Stored, *, base_url: str, extra: dict | None = None) -> str:
    """One Bundle entry whose resource is the stored JSON text."""
    head = {"fullUrl": f"{base_url}/{stored.reference}"}
    parts = [_dumps(head)[:-1], ',"resource":', stored.content]
    if extra:
        parts.append("," + _dumps(extra)[1:-1])
    parts.append("}")
    return "".join(parts)


def bundle(bundle_type: str, entries: list[str], *, links: list[dict] | None = None, total: int | None = None) -> str:
    """A Bundle of rendered entries."""
    head: dict = {"resourceType": "Bundle", "type": bundle_type}
    if total is not None:
        head["total"] = total
    if links:
        head["link"] = links
    if not entries:
        return _dumps(head)  # FHIR JSON has no empty arrays: no matches, no `entry`
    return _dumps(head)[:-1] + ',"entry":[' + ",".join(entries) + "]}"


def outcome_entry(*, ignored=(), notes=()) -> str | None:
    """A searchset's `outcome` entry: the parameters it ignored and other warnings (an omitted
    total), or None without any."""
    messages = [f"ignored unknown search parameters: {', '.join(sorted(set(ignored)))}"] if ignored else []
    messages += notes
    if not messages:
        return None
    outcome = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "warning", "code": "not-supported" if m.startswith("ignored") else "informational", "diagnostics": m}
        for m in messages]}
    return _dumps({"resource": outcome, "search": {"mode": "outcome"}})


def page_links(url: str, honoured: list[tuple[str, str]], *, cursor: str | None, next_cursor: str | None) -> list[dict]:
    """`self` (the page as asked for, its cursor included) and, while more exists, `next`."""
    own = [*honoured, ("_cursor", cursor)] if cursor else honoured
    links = [{"relation": "self", "url": url + ("?" + urlencode(own) if own else "")}]
    if next_cursor:
        links.append({"relation": "next", "url": url + "?" + urlencode([*honoured, ("_cursor", next_cursor)])})
    return links


def searchset(
    page: SearchPage,
    *,
    base_url: str,
    resource_type: str,
    honoured: list[tuple[str, str]],
    cursor: str | None = None,
    ignored: list[str] = (),
) -> str:
    """A searchset Bundle: `self` and `next` links, `total` when known, matches, includes, warnings."""
    links = page_links(f"{base_url}/{resource_type}", honoured, cursor=cursor, next_cursor=page.next_cursor)
    entries = [entry(s, base_url=base_url, extra={"search": {"mode": "match"}}) for s in page.matches]
    entries += [entry(s, base_url=base_url, extra={"search": {"mode": "include"}}) for s in page.included]
    outcome = outcome_entry(ignored=ignored, notes=page.notes)
    if outcome is not None:
        entries.append(outcome)
    return bundle("searchset", entries, links=links, total=page.total)


def history(versions: list[Stored], *, base_url: str) -> str:
    """A history Bundle, newest version first."""
    entries = []
    for stored in versions:
        created = stored.version == 1
        entries.append(
            entry(
                stored,
                base_url=base_url,
                extra={
                    "request": {"method": "POST" if created else "PUT", "url": stored.resource_type if created else stored.reference},
                    "response": {"status": "201 Created" if created else "200 OK", "etag": stored.etag, "lastModified": instant(stored.last_updated)},
                },
            )
        )
    return bundle("history", entries, total=len(versions))


def response_bundle(bundle_type: str, entries: list[str]) -> str:
    """A transaction-response or batch-response Bundle from rendered entries."""
    return bundle(bundle_type, entries)


def write_response_entry(stored: Stored, *, base_url: str, status: str) -> str:
    """An entry of a transaction/batch response for a write or read."""
    return entry(
        stored,
        base_url=base_url,
        extra={
            "response": {
                "status": status,
                "location": f"{base_url}/{stored.reference}/_history/{stored.version}",
                "etag": stored.etag,
                "lastModified": instant(stored.last_updated),
            }
        },
    )


def error_response_entry(status: str, outcome: dict) -> str:
    """An entry of a batch response for an entry that failed."""
    return _dumps({"response": {"status": status, "outcome": outcome}})
