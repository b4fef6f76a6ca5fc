from django.contrib import admin

from .models import PromptList, PromptTemplate


@admin.register(PromptList, PromptTemplate)
class OwnedAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "updated_at")
    list_select_related = ("owner",)
    search_fields = ("name", "owner__username")
