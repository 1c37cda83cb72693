"""ASGI entry point: HTTP through Django, websockets through Channels.

Loading this module is what starting the site means (runserver with daphne,
or daphne itself), so the start-up chores run here, not when models load.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dc43site.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from dc43site.routing import websocket_application  # noqa: E402
from dc43site.startup import on_site_start  # noqa: E402

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_application})

on_site_start()
