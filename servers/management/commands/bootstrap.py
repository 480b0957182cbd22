import secrets

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Role, User
from accounts.services import roles_ensure_defaults
from nodes.local import node_register_local


class Command(BaseCommand):
    # In servers, the app on top: a fresh install needs accounts, templates and nodes alike.
    help = "Create the default roles, an administrator and the local node. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument(
            "--email", default="admin@hearth.local", help="Administrator email (first run only)."
        )
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--no-local-node", action="store_true", help="Do not register the local Docker engine."
        )

    def handle(self, *args, email, username, no_local_node, **options):
        with transaction.atomic():
            roles = roles_ensure_defaults()
            self.stdout.write(f"Roles: {', '.join(r.name for r in roles)}")
            self._ensure_admin(email, username)
        from templates_app.services import templates_install_catalogue

        made = templates_install_catalogue()
        self.stdout.write(f"Templates: {', '.join(made) if made else 'catalogue already installed'}")
        if not no_local_node:
            _, message = node_register_local()
            self.stdout.write(message)

    def _ensure_admin(self, email: str, username: str) -> None:
        admin = User.objects.filter(is_superuser=True).order_by("date_joined").first()
        if admin:
            self.stdout.write(f"Administrator: {admin.email} (exists; password unchanged)")
            return
        password = secrets.token_urlsafe(15)
        admin = User.objects.create_superuser(email=email, username=username, password=password)
        admin.roles.add(Role.objects.get(name="Administrator"))
        self.stdout.write(self.style.SUCCESS("Administrator created. This password is shown only once:"))
        self.stdout.write(f"    email:    {email}\n    password: {password}")
