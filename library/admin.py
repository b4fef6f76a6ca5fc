from django.contrib import admin

from media_processing.admin import retry_assets

from .models import Asset, Tombstone


@admin.action(description="Delete selected assets, also from the pipelines that made them", permissions=["delete"])
def delete_with_outputs(modeladmin, request, queryset):
    """What the Library's Delete does. Django's own "delete selected" refuses assets that
    are pipeline outputs (Output.asset is PROTECT, so nothing removes outputs by accident)."""
    deleted = queryset.delete_in_bulk()
    modeladmin.message_user(request, f"Deleted {len(deleted)} assets; their files are collected shortly.")


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ("id", "filename", "owner", "kind", "source", "processing_status", "width", "height", "created_at")
    list_filter = ("kind", "source", "processing_status", "thumbnail_status", "variant_status")
    search_fields = ("filename", "sha256")
    raw_id_fields = ("owner",)
    show_full_result_count = False
    readonly_fields = ("sha256", "renditions", "exif", "created_at")
    actions = [retry_assets, delete_with_outputs]


@admin.register(Tombstone)
class TombstoneAdmin(admin.ModelAdmin):
    """Files waiting for the collector (manage.py collect_media, or beat)."""

    list_display = ("name", "due_at")
    search_fields = ("name",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
