from urllib.parse import urlsplit

from django import forms
from django.conf import settings

from .addresses import obviously_private
from .models import EVENTS, Endpoint


class EndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=list(EVENTS.items()), widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event."},
    )  # fmt: skip

    class Meta:
        model = Endpoint
        fields = ["url", "events"]

    def __init__(self, *args, owner, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.owner = owner
        self.fields["url"].error_messages["invalid"] = "Enter a full http:// or https:// URL."

    def clean_url(self):
        url = self.cleaned_data["url"]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise forms.ValidationError("Webhook URLs must start with http:// or https://.")
        if parts.username or parts.password:
            raise forms.ValidationError("Put no user name or password in the URL; check the signature instead.")
        try:
            port = parts.port  # past 65,535 (or no number) it raises: no send could reach such a port
        except ValueError:
            port = 0
        if port == 0:
            raise forms.ValidationError("The port must be a number from 1 to 65535.")
        if not settings.WEBHOOK_ALLOW_PRIVATE and obviously_private(parts.hostname or ""):
            # The send checks what the name resolves to as well (hooks/send.py); this catches the plain cases early.
            raise forms.ValidationError("This server doesn't send webhooks to loopback or private addresses.")
        if self.instance.owner.webhook_endpoints.filter(url=url).exists():
            # Two of them would send every event twice.
            raise forms.ValidationError("This URL is set up already: delete it and add it again to change its events.")
        return url

    def clean(self):
        data = super().clean()
        if self.instance.owner.webhook_endpoints.count() >= settings.WEBHOOK_ENDPOINTS_MAX:
            raise forms.ValidationError(f"At most {settings.WEBHOOK_ENDPOINTS_MAX} webhook URLs per account.")
        return data

