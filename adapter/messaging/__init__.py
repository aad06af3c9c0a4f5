"""Messaging: Communications routed between inboxes under the flow policy."""
