"""Server-rendered pages (Jinja, no build step, no script): follow-up for the head of operations (MC-R47)."""
