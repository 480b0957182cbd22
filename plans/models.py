"""What a hosting company sells: plans (the limits a customer's server gets, and how long it runs) and
upgrade bundles (what staff or a billing integration add to a server later)."""

import uuid
from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models


class Plan(models.Model):
    """A preset a customer picks when creating a server: its limits are the only ones that customer gets.
    No template or location listed means every one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    price_label = models.CharField(max_length=100, blank=True, help_text='Shown as is, e.g. "€4 / month".')
    is_active = models.BooleanField(default=True, help_text="Customers see and pick active plans only.")
    sort_order = models.IntegerField(default=0)

    memory_mb = models.PositiveIntegerField(validators=[MinValueValidator(64)])
    swap_mb = models.PositiveIntegerField(default=0)
    cpu_cores = models.DecimalField(
        max_digits=5, decimal_places=2, validators=[MinValueValidator(Decimal("0.1"))]
    )
    disk_mb = models.PositiveIntegerField(validators=[MinValueValidator(64)])
    backup_limit = models.PositiveIntegerField(default=3)
    database_limit = models.PositiveIntegerField(default=2)
    allocation_limit = models.PositiveIntegerField(default=3, validators=[MinValueValidator(1)])
    schedule_limit = models.PositiveIntegerField(default=25)

    default_expire_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Days a new server runs before it expires (empty: it never expires)."
    )
    delete_after_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Days an expired (suspended) server is kept before it is deleted (empty: never deleted).",
    )
    templates = models.ManyToManyField("templates_app.Template", blank=True, related_name="plans")
    locations = models.ManyToManyField("nodes.Location", blank=True, related_name="plans")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self):
        return self.name


class UpgradeBundle(models.Model):
    """Amounts added to a stopped server's limits at once (e.g. +2 GB memory, +1 database). No plan
    listed means it applies to servers of every plan, and to those without one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    price_label = models.CharField(max_length=100, blank=True)
    memory_mb = models.PositiveIntegerField(default=0)
    cpu_cores = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))
    disk_mb = models.PositiveIntegerField(default=0)
    backup_limit = models.PositiveIntegerField(default=0)
    database_limit = models.PositiveIntegerField(default=0)
    allocation_limit = models.PositiveIntegerField(default=0)
    plans = models.ManyToManyField(Plan, blank=True, related_name="upgrades")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name
