"""Who may see runs: one rule for the pages and the websocket.

Run pages show samples of rejected rows, that is data, so they need a permission,
not only a login: Django's "Can view run", or the right to start runs.
"""

VIEW_RUNS = ("registry.view_run", "registry.start_run")


def can_view_runs(user):
    return bool(user and user.is_authenticated and any(user.has_perm(perm) for perm in VIEW_RUNS))


def can_start_runs(user):
    return bool(user and user.is_authenticated and user.has_perm("registry.start_run"))
