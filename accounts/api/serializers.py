from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from rest_framework import serializers

from accounts.models import Role, User
from accounts.permissions import effective_permissions
from config import limits

username_validator = RegexValidator(
    r"^[A-Za-z0-9_.-]{3,32}$", "Username must be 3 to 32 letters, digits, dots, dashes or underscores."
)


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254, error_messages={"invalid": "Invalid email format"})
    username = serializers.CharField(max_length=32, validators=[username_validator])
    password = serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        max_length=limits.PASSWORD_CHARS,
        style={"input_type": "password"},
    )

    def validate_password(self, value):
        if len(value) < 8:
            raise serializers.ValidationError("Password too weak (min 8 characters)")
        try:
            validate_password(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from exc
        return value


class LoginSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        max_length=limits.PASSWORD_CHARS,
        style={"input_type": "password"},
    )


class RefreshSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(max_length=limits.TOKEN_CHARS)


class LogoutSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(required=False, allow_blank=True, max_length=limits.TOKEN_CHARS)


class AuthResultSerializer(serializers.Serializer):
    """What register, login and refresh return: the contract's fields plus the refresh token."""

    user_id = serializers.UUIDField(source="user.id")
    email = serializers.EmailField(source="user.email")
    username = serializers.CharField(source="user.username")
    token = serializers.CharField(help_text="Access token (JWT) for `Authorization: Bearer`.")
    refresh_token = serializers.CharField(help_text="Single-use token for POST /api/auth/refresh.")
    expires_at = serializers.IntegerField(help_text="Access token expiry, unix time.")


class RoleSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Role
        fields = ["id", "name", "permissions"]


class MeSerializer(serializers.ModelSerializer):
    created_at = serializers.DateTimeField(source="date_joined", read_only=True)
    roles = RoleSummarySerializer(many=True, read_only=True)
    permissions = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "username", "created_at", "roles", "permissions"]

    def get_permissions(self, user) -> list[str]:
        return effective_permissions(user)


class AdminUserSerializer(serializers.ModelSerializer):
    created_at = serializers.DateTimeField(source="date_joined", read_only=True)
    roles = RoleSummarySerializer(many=True, read_only=True)

    class Meta:
        model = User
        fields = ["id", "email", "username", "roles", "is_active", "created_at"]
