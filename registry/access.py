"""Who may see and start runs: one rule for the pages and the websocket.

Every page of the site is open to any signed-in, active person (the foundation's
rule, pinned by tests/test_login_required.py); starting runs needs
`registry.start_run` (the "Pipeline operators" group that ensure_admin creates).
"""


def can_view_runs(user):
    return bool(user and user.is_authenticated and user.is_active)


def can_start_runs(user):
    return bool(can_view_runs(user) and user.has_perm("registry.start_run"))
