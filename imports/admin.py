from django.contrib import admin

from .models import ImportRecord, ImportSource


@admin.register(ImportSource)
class ImportSourceAdmin(admin.ModelAdmin):
    list_display = ("label", "owner", "created_at", "last_import_at")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    readonly_fields = ("fingerprint", "landmarks", "created_at", "last_import_at")


@admin.register(ImportRecord)
class ImportRecordAdmin(admin.ModelAdmin):
    # What each i2v row became; searching by table and id answers "where did #123 go?".
    list_display = ("table", "row_id", "pipeline", "source", "imported_at")
    list_filter = ("table",)
    search_fields = ("=row_id",)
    raw_id_fields = ("source", "pipeline")
    list_select_related = ("pipeline", "source")
    show_full_result_count = False
