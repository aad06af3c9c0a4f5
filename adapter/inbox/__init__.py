"""Inbox items: Tasks in personal and shared inboxes."""
