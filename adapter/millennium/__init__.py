"""The Millennium connector: messages to inboxes that live in Millennium go there, and answers come back.

Outbound (`outbound.py`): every message routed to a Millennium user or pool becomes one outbox row
and, through the delivery worker, one Millennium Communication carrying all its Millennium
recipients, mapped by `mapping.py` from the tables `mappings/millennium_*.csv`.
Inbound (`inbound.py`): `mc-adapter worker` polls the Millennium Groups that mirror adapter
inboxes and imports what Millennium users wrote there through the same flow policy as any message.
`client.py` speaks Millennium's Communication API contract (reference/millennium-communication.md);
`token.py` gets SMART Backend Services access tokens for it.
"""
