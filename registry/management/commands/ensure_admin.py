import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an admin account if there is none (password from DC43_ADMIN_PASSWORD, else generated and printed once)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("DC43_ADMIN_USER", "admin"))

    def handle(self, *args, username, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("admin account: already present")
            return
        password = os.environ.get("DC43_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        if os.environ.get("DC43_ADMIN_PASSWORD"):
            self.stdout.write(f"admin account: created {username!r} with the password from DC43_ADMIN_PASSWORD")
        else:
            self.stdout.write(self.style.WARNING(
                f"admin account: created {username!r} with password {password}  (shown once; change it in the admin)"
            ))
