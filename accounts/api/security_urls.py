"""Account security endpoints: password change and reset, two-factor authentication."""

from django.urls import path

from accounts.api import security_views as views

urlpatterns = [
    path("password", views.PasswordChangeView.as_view(), name="auth-password"),
    path("password-reset", views.PasswordResetView.as_view(), name="auth-password-reset"),
    path(
        "password-reset/confirm", views.PasswordResetConfirmView.as_view(), name="auth-password-reset-confirm"
    ),
    path("login/2fa", views.LoginTwoFactorView.as_view(), name="auth-login-2fa"),
    path("2fa/setup", views.TwoFactorSetupView.as_view(), name="auth-2fa-setup"),
    path("2fa/enable", views.TwoFactorEnableView.as_view(), name="auth-2fa-enable"),
    path("2fa/disable", views.TwoFactorDisableView.as_view(), name="auth-2fa-disable"),
    path("2fa/recovery-codes", views.TwoFactorRecoveryCodesView.as_view(), name="auth-2fa-recovery-codes"),
]
