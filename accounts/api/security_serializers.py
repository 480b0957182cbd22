"""Requests and answers of the account security endpoints (passwords and two-factor)."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from config import limits


class NewPasswordField(serializers.CharField):
    """A password being set: at least 8 characters and whatever AUTH_PASSWORD_VALIDATORS add."""

    def __init__(self, **kwargs):
        kwargs.setdefault("write_only", True)
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("style", {"input_type": "password"})
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value) < 8:
            raise serializers.ValidationError("Password too weak (min 8 characters)")
        try:
            validate_password(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from exc
        return value


def _password_field() -> serializers.CharField:
    return serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        max_length=limits.PASSWORD_CHARS,
        style={"input_type": "password"},
    )


def _code_field(help_text: str = "Six-digit code from the authenticator app.") -> serializers.CharField:
    return serializers.CharField(max_length=32, help_text=help_text)


ANY_CODE = "A code from the authenticator app or a recovery code."


class PasswordChangeSerializer(serializers.Serializer):
    current_password = _password_field()
    new_password = NewPasswordField()


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.EmailField(error_messages={"invalid": "Invalid email format"})


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    new_password = NewPasswordField()


class TwoFactorSetupSerializer(serializers.Serializer):
    secret = serializers.CharField(
        help_text="Base32 seed for authenticator apps that cannot scan the QR code."
    )
    otpauth_url = serializers.CharField(help_text="otpauth:// URI to show as a QR code.")


class TwoFactorCodeSerializer(serializers.Serializer):
    code = _code_field()


class TwoFactorDisableSerializer(serializers.Serializer):
    password = _password_field()
    code = _code_field(ANY_CODE)


class RecoveryCodesSerializer(serializers.Serializer):
    recovery_codes = serializers.ListField(
        child=serializers.CharField(), help_text="Each works once. Shown only now: store them safely."
    )


class TwoFactorLoginSerializer(serializers.Serializer):
    challenge_token = serializers.CharField(max_length=1000)
    code = _code_field(ANY_CODE)


class TwoFactorChallengeSerializer(serializers.Serializer):
    """What login returns instead of tokens when the account has two-factor on."""

    two_factor_required = serializers.SerializerMethodField()
    challenge_token = serializers.CharField(
        help_text="Valid for 5 minutes: send it with a code to POST /api/auth/login/2fa."
    )

    def get_two_factor_required(self, result) -> bool:
        return True
