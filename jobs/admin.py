from django.contrib import admin

from .models import Output, Pipeline, Step, Tag


class StepInline(admin.TabularInline):
    model = Step
    extra = 0
    fields = ("order", "kind", "status", "progress", "cost_actual", "attempts", "error")
    readonly_fields = fields
    show_change_link = True


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "owner", "status", "model", "total_cost", "is_favorite", "is_hidden", "created_at")
    list_filter = ("status", "mode", "is_favorite", "is_hidden")
    search_fields = ("name",)
    raw_id_fields = ("owner",)
    date_hierarchy = "created_at"
    # A million rows: an exact COUNT(*) per page load would be the slowest part of the admin.
    show_full_result_count = False
    inlines = [StepInline]
    readonly_fields = ("search_text", "created_at", "updated_at")


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    list_display = ("id", "pipeline", "kind", "order", "status", "attempts", "heartbeat_at")
    list_filter = ("status", "kind")
    raw_id_fields = ("owner", "pipeline")
    show_full_result_count = False


@admin.register(Output)
class OutputAdmin(admin.ModelAdmin):
    list_display = ("id", "pipeline", "step", "asset", "position")
    raw_id_fields = ("owner", "pipeline", "step", "asset")
    show_full_result_count = False


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "colour")
    search_fields = ("name",)
    raw_id_fields = ("owner",)
