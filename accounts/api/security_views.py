"""Account security endpoints: password change and reset, two-factor setup and the two-factor login step."""

from django.contrib.auth import update_session_auth_hash
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView

from accounts import services, twofactor
from accounts.api import security_serializers as s
from accounts.api.serializers import AuthResultSerializer
from accounts.api.views import PublicAuthView, _client
from accounts.authentication import JWTAuthentication
from accounts.models import ApiKey
from accounts.tokens import SESSION_CLAIM
from config.api.responses import ok
from config.api.throttling import AuthRateThrottle

RESET_SENT = "If an account uses this email, a link to reset its password is on its way."


def _valid(serializer_class, request) -> dict:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


class NotApiKey(permissions.IsAuthenticated):
    message = "Account security changes need a login token, not an API key."

    def has_permission(self, request, view):
        return super().has_permission(request, view) and not isinstance(request.auth, ApiKey)


class SecurityView(APIView):
    """Authenticated with a login (never an API key), and limited per client like login."""

    permission_classes = [NotApiKey]
    throttle_classes = [AuthRateThrottle]


class PasswordChangeView(SecurityView):
    @extend_schema(request=s.PasswordChangeSerializer, responses={200: None}, tags=["auth"])
    def post(self, request):
        """Change the password. Every other login of this account ends; this one keeps working."""
        data = _valid(s.PasswordChangeSerializer, request)
        token = request.auth if isinstance(request.successful_authenticator, JWTAuthentication) else None
        session_id = token.get(SESSION_CLAIM) if token is not None else None
        services.user_password_change(user=request.user, **data, keep_session_id=session_id, request=request)
        if isinstance(request.successful_authenticator, SessionAuthentication):  # keep this browser signed in
            update_session_auth_hash(request._request, request.user)
        return ok(message="Password changed. Other sessions were logged out.")


class PasswordResetView(PublicAuthView):
    @extend_schema(request=s.PasswordResetSerializer, responses={200: None}, tags=["auth"])
    def post(self, request):
        """Email a password reset link. The answer is the same whether or not the email has an account."""
        services.password_reset_request(email=_valid(s.PasswordResetSerializer, request)["email"])
        return ok(message=RESET_SENT)


class PasswordResetConfirmView(PublicAuthView):
    @extend_schema(request=s.PasswordResetConfirmSerializer, responses={200: None}, tags=["auth"])
    def post(self, request):
        """Set a new password with the uid and token from the email. Every login session ends."""
        services.password_reset_confirm(**_valid(s.PasswordResetConfirmSerializer, request), request=request)
        return ok(message="Password changed. Log in with the new password.")


class LoginTwoFactorView(PublicAuthView):
    @extend_schema(request=s.TwoFactorLoginSerializer, responses=AuthResultSerializer, tags=["auth"])
    def post(self, request):
        """Second login step: the challenge token from /api/auth/login and a TOTP or recovery code."""
        result = services.user_login_two_factor(
            **_valid(s.TwoFactorLoginSerializer, request), **_client(request)
        )
        return ok(AuthResultSerializer(result).data)


class TwoFactorSetupView(SecurityView):
    @extend_schema(request=None, responses=s.TwoFactorSetupSerializer, tags=["auth"])
    def post(self, request):
        """Start two-factor setup: a new secret to add to an authenticator app, then confirm with /enable."""
        return ok(s.TwoFactorSetupSerializer(twofactor.twofactor_setup(user=request.user)).data)


class TwoFactorEnableView(SecurityView):
    @extend_schema(request=s.TwoFactorCodeSerializer, responses=s.RecoveryCodesSerializer, tags=["auth"])
    def post(self, request):
        """Turn two-factor on with a first code; answers the recovery codes, shown only this once."""
        code = _valid(s.TwoFactorCodeSerializer, request)["code"]
        codes = twofactor.twofactor_enable(user=request.user, code=code, request=request)
        return ok(s.RecoveryCodesSerializer({"recovery_codes": codes}).data)


class TwoFactorDisableView(SecurityView):
    @extend_schema(request=s.TwoFactorDisableSerializer, responses={200: None}, tags=["auth"])
    def post(self, request):
        """Turn two-factor off: needs the password and a TOTP or recovery code."""
        twofactor.twofactor_disable(
            user=request.user, **_valid(s.TwoFactorDisableSerializer, request), request=request
        )
        return ok(message="Two-factor authentication is off.")


class TwoFactorRecoveryCodesView(SecurityView):
    @extend_schema(request=s.TwoFactorCodeSerializer, responses=s.RecoveryCodesSerializer, tags=["auth"])
    def post(self, request):
        """Replace the recovery codes (needs a TOTP code); the old ones stop working."""
        code = _valid(s.TwoFactorCodeSerializer, request)["code"]
        codes = twofactor.twofactor_recovery_codes_regenerate(user=request.user, code=code, request=request)
        return ok(s.RecoveryCodesSerializer({"recovery_codes": codes}).data)
