from django import forms


class LoginForm(forms.Form):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        max_length=4096, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class TwoFactorForm(forms.Form):
    """The second step of a login with two-factor on: the challenge from the first step and a code."""

    challenge_token = forms.CharField(max_length=4096, widget=forms.HiddenInput)
    code = forms.CharField(
        label="Authentication code",
        max_length=64,
        help_text="The 6-digit code from your authenticator app, or a recovery code.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text"}),
    )
