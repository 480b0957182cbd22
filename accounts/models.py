import uuid

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower

from accounts.permissions import unknown
from config import limits


class Role(models.Model):
    """A named set of permission strings given to users."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, max_length=limits.DESCRIPTION_CHARS)
    permissions = models.JSONField(default=list, blank=True)
    requires_two_factor = models.BooleanField(
        default=False,
        help_text="Members of this role must enable two-factor authentication before using the panel.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        if not isinstance(self.permissions, list) or not all(isinstance(p, str) for p in self.permissions):
            raise ValidationError({"permissions": "Permissions must be a list of strings."})
        if bad := unknown(self.permissions):
            raise ValidationError({"permissions": f"Unknown permissions: {', '.join(bad)}"})


class UserManager(DjangoUserManager):
    def _create_user(self, username, email, password, **extra_fields):
        email = self.normalize_email(email).lower()
        return super()._create_user(username, email, password, **extra_fields)

    def create_user(self, email, username, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(username, email, password, **extra_fields)

    def create_superuser(self, email, username, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(username, email, password, **extra_fields)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractUser):
    """A person who logs in with their email; staff and customers alike."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address", unique=True)
    roles = models.ManyToManyField(Role, blank=True, related_name="users")
    updated_at = models.DateTimeField(auto_now=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = ["username"]

    objects = UserManager()

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def save(self, *args, **kwargs):
        self.email = (self.email or "").strip().lower()
        super().save(*args, **kwargs)


class LoginSession(models.Model):
    """One login: every token issued from it carries its id, so revoking it ends them all."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="login_sessions")
    created_at = models.DateTimeField(auto_now_add=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self):
        return f"{self.user} @ {self.created_at:%Y-%m-%d %H:%M}"


class ApiKey(models.Model):
    """A long-lived bearer credential: optionally narrowed to some permissions, addresses and a lifetime."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text="Shown in lists; identifies the key.")
    secret_hash = models.CharField(
        max_length=64, help_text="sha256 of the whole key; the key itself is never stored."
    )
    permissions = models.JSONField(
        null=True, blank=True, help_text="A subset of the owner's permissions; empty means all of them."
    )
    allowed_ips = models.JSONField(
        default=list, blank=True, help_text="CIDR ranges; empty means any address."
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def clean(self):
        if self.permissions is not None and (bad := unknown(self.permissions)):
            raise ValidationError({"permissions": f"Unknown permissions: {', '.join(bad)}"})


class TwoFactorDevice(models.Model):
    """A user's TOTP authenticator and hashed recovery codes."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="two_factor")
    secret = models.TextField(help_text="Encrypted TOTP seed.")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(
        default=0, help_text="Codes at or before this time step are spent."
    )
    recovery_codes = models.JSONField(
        default=list, blank=True, help_text="sha256 of each unused recovery code."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"2FA for {self.user}"

    @property
    def is_enabled(self) -> bool:
        return self.confirmed_at is not None


class AuditLog(models.Model):
    """Who changed what, when and from where. Rows are never edited; old ones are pruned by beat."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, blank=True, help_text="The actor's name at the time.")
    action = models.CharField(max_length=64, db_index=True)
    resource_type = models.CharField(max_length=32, blank=True)
    resource_id = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]  # unique: rows of one instant page in one order
        indexes = [
            models.Index(fields=["resource_type", "resource_id"]),
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["-created_at", "-id"], name="audit_newest_first"),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.username or 'system'} {self.action}"


class SSHKey(models.Model):
    """A public key its user logs in to the SFTP gateway with (servers/sftp/logins.py)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="ssh_keys")
    name = models.CharField(max_length=100)
    public_key = models.TextField(help_text="'type base64', normalized (no comment).")
    fingerprint = models.CharField(max_length=64, help_text="SHA256:… as ssh-keygen -lf prints it.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = "SSH key"
        constraints = [
            models.UniqueConstraint(fields=["user", "fingerprint"], name="ssh_key_unique_per_user")
        ]
        indexes = [models.Index(fields=["fingerprint"])]

    def __str__(self):
        return f"{self.name} ({self.fingerprint})"
