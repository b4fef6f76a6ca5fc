from django.contrib import admin

from media_processing.admin import retry_assets

from .models import Asset


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ("id", "filename", "owner", "kind", "source", "processing_status", "width", "height", "created_at")
    list_filter = ("kind", "source", "processing_status", "thumbnail_status", "variant_status")
    search_fields = ("filename", "sha256")
    raw_id_fields = ("owner",)
    show_full_result_count = False
    readonly_fields = ("sha256", "renditions", "exif", "created_at")
    actions = [retry_assets]
