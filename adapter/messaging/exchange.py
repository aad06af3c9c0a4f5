"""A message, or a reminder to someone, read once into what the flow policy decides on.

Pure Python: the service reads the resource and the directory once into an `Exchange`, the
policy decides every sender-recipient pair of it, and only then is anything written. The side
doors (reminder Tasks, system messages from clients) are the same value built from another
resource, so one check covers them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.messaging.policy import Endpoint, Flow, FlowBlocked, FlowPolicy


@dataclass(frozen=True)
class Recipient:
    """One recipient inbox and how the policy sees it."""

    reference: str
    endpoint: Endpoint
    expression: str | None = None  # where the recipient is named in the resource


@dataclass(frozen=True)
class Exchange:
    """Everything the routine looks at for one message: who sends, as what, to whom, about what."""

    category: str
    caller: str  # "user", "client", "ehr" (the EHR integration's client) or "adapter"
    sender_reference: str
    sender: Endpoint
    recipients: tuple[Recipient, ...]
    patient: bool
    save_to_journal: bool
    dialogue_held: bool = False
    reply_to_shared: bool = False  # inResponseTo a message sent from a shared inbox (MC-R38)
    # Where the resource names each element a rule may point at (a reminder Task names its
    # recipient in owner, its sender in requester).
    sender_expression: str = "Communication.sender"
    element_expressions: tuple[tuple[str, str], ...] = ()

    def expression(self, decision_expression: str | None, recipient: Recipient) -> str | None:
        """The element a refusal points at, in this exchange's resource."""
        element = (decision_expression or "Communication").partition(".")[2]
        if element == "recipient":
            return recipient.expression
        if element == "sender":
            return self.sender_expression
        return dict(self.element_expressions).get(element, decision_expression)

    def flows(self) -> list[tuple[Recipient, Flow]]:
        """One flow per recipient."""
        return [
            (recipient, Flow(
                category=self.category, sender=self.sender, recipient=recipient.endpoint, caller=self.caller,
                patient=self.patient, save_to_journal=self.save_to_journal,
                to_self=recipient.reference == self.sender_reference, dialogue_held=self.dialogue_held,
                reply_to_shared=self.reply_to_shared,
            ))
            for recipient in self.recipients
        ]


def check(policy: FlowPolicy, exchange: Exchange) -> None:
    """Raise FlowBlocked for the first recipient the routine does not allow (MC-R3, MC-R7, ...)."""
    for recipient, flow in exchange.flows():
        decision = policy.decide(flow)
        if not decision.allowed:
            raise FlowBlocked(decision, exchange.expression(decision.expression, recipient))
