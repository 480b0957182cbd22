from django.conf import settings
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import exceptions, permissions
from rest_framework.views import APIView

from accounts import services
from accounts.api import serializers
from accounts.api.security_serializers import TwoFactorChallengeSerializer
from accounts.authentication import JWTAuthentication
from accounts.tokens import SESSION_CLAIM
from config.addresses import client_address
from config.api.responses import ok
from config.api.throttling import AuthRateThrottle


def _client(request) -> dict:
    return {"ip": client_address(request), "user_agent": request.META.get("HTTP_USER_AGENT", "")}


class PublicAuthView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = [AuthRateThrottle]

    def get_authenticate_header(self, request):
        # Without an authenticator DRF turns 401 into 403; bad credentials are a 401.
        return 'Bearer realm="api"'


class RegisterView(PublicAuthView):
    @extend_schema(
        request=serializers.RegisterSerializer, responses=serializers.AuthResultSerializer, tags=["auth"]
    )
    def post(self, request):
        """Create an account (role Customer) and return its first tokens, unless registration is off."""
        if not settings.REGISTRATION_ENABLED:  # refused before reading the body: nothing is created
            raise exceptions.PermissionDenied("Registration is closed. Ask an administrator for an account.")
        data = serializers.RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.user_register(**data.validated_data, **_client(request))
        return ok(serializers.AuthResultSerializer(result).data)


class LoginView(PublicAuthView):
    @extend_schema(
        request=serializers.LoginSerializer,
        responses=PolymorphicProxySerializer(
            component_name="LoginResult",
            serializers=[serializers.AuthResultSerializer, TwoFactorChallengeSerializer],
            resource_type_field_name=None,
        ),
        tags=["auth"],
    )
    def post(self, request):
        """Exchange email and password for an access token and a refresh token.

        With two-factor on, the answer is a challenge token instead: finish at /api/auth/login/2fa.
        """
        data = serializers.LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.user_login(**data.validated_data, **_client(request))
        if "challenge_token" in result:
            return ok(TwoFactorChallengeSerializer(result).data)
        return ok(serializers.AuthResultSerializer(result).data)


class RefreshView(PublicAuthView):
    @extend_schema(
        request=serializers.RefreshSerializer, responses=serializers.AuthResultSerializer, tags=["auth"]
    )
    def post(self, request):
        """Spend a refresh token for a new pair; a refresh token works once."""
        data = serializers.RefreshSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.tokens_refresh(refresh_token=data.validated_data["refresh_token"])
        return ok(serializers.AuthResultSerializer(result).data)


class LogoutView(APIView):
    throttle_classes = [AuthRateThrottle]

    @extend_schema(request=serializers.LogoutSerializer, responses={200: None}, tags=["auth"])
    def post(self, request):
        """End this login: the access token and its refresh token stop working."""
        data = serializers.LogoutSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        jwt = isinstance(request.successful_authenticator, JWTAuthentication)
        session_id = request.auth.get(SESSION_CLAIM) if jwt else None
        if session_id:
            services.session_logout(
                session_id=session_id, refresh_token=data.validated_data.get("refresh_token")
            )
        return ok(message="Logged out")


class MeView(APIView):
    @extend_schema(responses=serializers.MeSerializer, tags=["auth"])
    def get(self, request):
        """The authenticated user, their roles and effective permissions."""
        return ok(serializers.MeSerializer(request.user).data)
