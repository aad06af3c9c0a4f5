"""Follow-up (MC-R47): watches of shared inboxes within opening hours, open and overdue items, handling times."""
