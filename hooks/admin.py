from django.contrib import admin

from .models import Delivery, Endpoint


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ("url", "owner", "is_active", "created_at")
    list_select_related = ("owner",)
    exclude = ("secret",)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "event", "endpoint", "status", "response_status", "attempts", "available_at", "created_at")
    list_filter = ("status", "event")
    list_select_related = ("endpoint",)
    raw_id_fields = ("owner", "endpoint")
