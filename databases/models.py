"""MySQL/MariaDB servers the panel makes customers' databases on, and the databases it made."""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from config import crypto


class DatabaseHost(models.Model):
    """A MySQL or MariaDB server staff registered; the panel logs in with an account that may create
    databases and users and grant on them (WITH GRANT OPTION), and its password is encrypted at rest."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    host = models.CharField(max_length=255, help_text="Where the panel and the game servers reach it.")
    port = models.PositiveIntegerField(
        default=3306, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    username = models.CharField(max_length=80)
    password_encrypted = models.TextField(blank=True, editable=False)
    password = crypto.Encrypted("password_encrypted")
    max_databases = models.PositiveIntegerField(
        null=True, blank=True, help_text="Databases the panel makes here at most (empty: no limit)."
    )
    nodes = models.ManyToManyField(
        "nodes.Node",
        blank=True,
        related_name="database_hosts",
        help_text="The nodes whose servers may have a database here (none: every node).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ServerDatabase(models.Model):
    """A database made for a server, with the one user that may use it. A row whose server is gone
    (deleted while its host was down) is still on the host: databases.services drops it later."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    server = models.ForeignKey(
        "servers.Server", null=True, blank=True, on_delete=models.SET_NULL, related_name="databases"
    )
    host = models.ForeignKey(DatabaseHost, on_delete=models.PROTECT, related_name="databases")
    name = models.CharField(max_length=64, help_text="The database's real name on its host.")
    username = models.CharField(max_length=32)
    password_encrypted = models.TextField(editable=False)
    password = crypto.Encrypted("password_encrypted")
    remote = models.CharField(
        max_length=255, default="%", help_text="The addresses the user may connect from."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["host", "name"], name="database_name_unique_on_host"),
            models.UniqueConstraint(fields=["host", "username"], name="database_user_unique_on_host"),
        ]

    def __str__(self):
        return self.name
