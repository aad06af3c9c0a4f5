"""Server-rendered pages (Jinja, no build step, no script): follow-up (MC-R47) and the sandbox's inboxes."""


def ui_blueprint():
    """The `/ui` blueprint with every page on it (the sandbox's pages add their routes to it)."""
    from adapter.ui import sandbox, views  # noqa: F401  (importing a page module registers its routes)

    return views.blueprint
