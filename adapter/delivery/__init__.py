"""Delivery: the transactional outbox, the workers that empty it, and the one outbound HTTP client.

Generic: it imports no domain package. Domains register what they deliver (a `Deliverer` per
kind) and react to outcomes through the registry's events (`outbox-delivered`, `outbox-dead`).
"""
