"""Account security endpoints: password change and reset, two-factor authentication."""

urlpatterns: list = []
