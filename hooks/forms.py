from urllib.parse import urlsplit

import httpx
from django import forms
from django.conf import settings

from i2v.lib.forms import MultipleChoiceField

from .addresses import numeric_spelling, obviously_private
from .models import EVENTS, Endpoint

URL_MAX = Endpoint._meta.get_field("url").max_length


class WebhookURLField(forms.URLField):
    """A URL over its length is refused for that alone: Django's URL check would also call one past
    2,048 characters "not a URL", which sends the person looking for a typo."""

    def run_validators(self, value):
        if value and len(value) > self.max_length:
            raise forms.ValidationError(
                f"A webhook URL may be at most {self.max_length:,} characters; this one has {len(value):,}.", code="max_length"
            )
        if numeric_spelling(host := _host(value)):
            # Django's check would say only "not a full URL", which reads as a typo somewhere.
            raise forms.ValidationError(
                f"Write the host as a name or a dotted IPv4 address such as 192.0.2.1 ({host} is a number).", code="invalid"
            )
        super().run_validators(value)


def _host(url):
    """The host of `url` for a message, or "" where it has none (Django's check then says what is wrong)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # "[127.1]": brackets around no IPv6 address
        return ""


class EndpointEventsForm(forms.ModelForm):
    """The events an endpoint is sent; changing them keeps its URL and its secret."""

    events = MultipleChoiceField(
        choices=list(EVENTS.items()), widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event."},
    )  # fmt: skip

    class Meta:
        model = Endpoint
        fields = ["events"]


class EndpointForm(EndpointEventsForm):
    url = WebhookURLField(max_length=URL_MAX, assume_scheme="https")

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
        try:
            httpx.URL(url).raw_host.decode("ascii")  # as the send will ask DNS for it (IDNA)
        except (httpx.InvalidURL, UnicodeError):
            raise forms.ValidationError("The host isn't a name DNS can look up (each part at most 63 letters once encoded).") from None
        if not settings.WEBHOOK_ALLOW_PRIVATE and obviously_private(parts.hostname or ""):
            # The send checks what the name resolves to as well (hooks/send.py); this catches the plain cases early.
            raise forms.ValidationError("This server doesn't send webhooks to loopback or private addresses.")
        if self.instance.owner.webhook_endpoints.filter(url=url).exists():
            # Two of them would send every event twice.
            raise forms.ValidationError("This URL is set up already: change its events in its row above.")
        return url

    def clean(self):
        data = super().clean()
        if self.instance.owner.webhook_endpoints.count() >= settings.WEBHOOK_ENDPOINTS_MAX:
            raise forms.ValidationError(f"At most {settings.WEBHOOK_ENDPOINTS_MAX} webhook URLs per account.")
        return data
