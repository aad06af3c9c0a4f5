"""OperationOutcome resources built from domain issues."""

from __future__ import annotations

from adapter.errors import Issue
from adapter.identifiers import BASE

RULE_SYSTEM = f"{BASE}/CodeSystem/rule"


def issue_json(issue: Issue) -> dict:
    """One OperationOutcome.issue; a rule violation carries the rule code and English text."""
    out: dict = {"severity": issue.severity, "code": issue.code, "diagnostics": issue.diagnostics}
    if issue.rule or issue.text:
        details: dict = {}
        if issue.rule:
            details["coding"] = [{"system": RULE_SYSTEM, "code": issue.rule}]
        if issue.text:
            details["text"] = issue.text
        out["details"] = details
    if issue.expression:
        out["expression"] = [issue.expression]
    return out


def operation_outcome(issues: list[Issue]) -> dict:
    """An OperationOutcome resource with the given issues."""
    return {"resourceType": "OperationOutcome", "issue": [issue_json(i) for i in issues]}


def information(message: str) -> dict:
    """An OperationOutcome with a single informational issue."""
    return operation_outcome([Issue(code="informational", diagnostics=message, severity="information")])
