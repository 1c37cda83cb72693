import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

OPERATORS_GROUP = "Pipeline operators"


class Command(BaseCommand):
    help = (
        "Create an admin account if there is none (password from DC43_ADMIN_PASSWORD, else generated and printed "
        "once), and the 'Pipeline operators' group allowed to start runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("DC43_ADMIN_USER", "admin"))

    def handle(self, *args, username, **options):
        self.ensure_operators_group()
        self.ensure_admin(username)

    def ensure_operators_group(self):
        group, created = Group.objects.get_or_create(name=OPERATORS_GROUP)
        group.permissions.add(Permission.objects.get(content_type__app_label="registry", codename="start_run"))
        if created:
            self.stdout.write(f"group {OPERATORS_GROUP!r}: created (members may start pipeline runs)")

    def ensure_admin(self, username):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("admin account: already present")
            return
        given = os.environ.get("DC43_ADMIN_PASSWORD")
        if given:
            refuse_weak(given, User(username=username))
        password = given or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        if given:
            self.stdout.write(f"admin account: created {username!r} with the password from DC43_ADMIN_PASSWORD")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"admin account: created {username!r} with password {password}  (shown once; change it in the admin)"
                )
            )


def refuse_weak(password, user):
    """The site's password validators (settings.AUTH_PASSWORD_VALIDATORS) hold for the first admin too."""
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise CommandError("DC43_ADMIN_PASSWORD is refused: " + " ".join(exc.messages)) from None
