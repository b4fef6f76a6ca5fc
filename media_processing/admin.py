from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.views.decorators.http import require_POST

from .models import AlreadyQueued, ProcessingJob, QueueState


@admin.action(description="Retry processing")
def retry_jobs(modeladmin, request, queryset):
    # Counted before the retry: under a status filter (?status__exact=failed) the retried jobs leave the queryset.
    selected = queryset.count()
    retried = sum(job.requeue() for job in queryset.filter(status=ProcessingJob.Status.FAILED).select_related("asset"))
    skipped = selected - retried
    modeladmin.message_user(request, f"{retried} jobs queued again; {skipped} skipped (only failed jobs are retried).")


@admin.action(description="Retry processing")
def retry_assets(modeladmin, request, queryset):
    """The Asset admin's action: what POST /api/images/<id>/retry-processing does, for each selected asset."""
    queued = busy = complete = 0
    for asset in queryset:
        try:
            jobs = ProcessingJob.objects.retry(asset)
        except AlreadyQueued:
            busy += 1
            continue
        queued += bool(jobs)
        complete += not jobs
    modeladmin.message_user(
        request, f"{queued} assets queued again; {busy} already queued or processing; {complete} had nothing to retry."
    )


@admin.register(ProcessingJob)
class ProcessingJobAdmin(admin.ModelAdmin):
    list_display = (
        "id", "asset", "kind", "queue", "status", "attempts", "short_error", "created_at", "started_at", "leased_until",
    )  # fmt: skip
    list_filter = ("status", "kind", "queue", "force")
    search_fields = ("=id", "=asset__id")
    raw_id_fields = ("asset",)
    list_select_related = ("asset",)
    show_full_result_count = False
    actions = [retry_jobs]
    readonly_fields = (
        "kind", "queue", "priority", "status", "attempts", "force", "error", "created_at", "available_at", "sent_at",
        "started_at", "heartbeat_at", "leased_until", "completed_at", "failed_at",
    )  # fmt: skip

    @admin.display(description="error")
    def short_error(self, job):
        return job.error[:80]

    def has_add_permission(self, request):
        return False  # jobs come from uploads, retries and backfills


@admin.register(QueueState)
class QueueStatusAdmin(admin.ModelAdmin):
    """The queue status page: listed on the admin index as "Queue status".

    Its changelist shows the figures of GET /api/admin/processing-queue, and a
    paused queue can be resumed from it.
    """

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        resume = self.admin_site.admin_view(require_POST(self.resume_view))
        return [path("<str:queue>/resume/", resume, name="media_processing_queuestate_resume"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Queue status",
            "opts": self.model._meta,
            "status": ProcessingJob.objects.queue_status(),
            "can_resume": self.has_change_permission(request),
        }
        return TemplateResponse(request, "admin/media_processing/queue_status.html", context)

    def resume_view(self, request, queue):
        if not self.has_change_permission(request):
            raise PermissionDenied
        QueueState.objects.resume(queue)
        # Send the jobs the pause left waiting now, not at the next sweep.
        sent = ProcessingJob.objects.dispatch()
        self.message_user(request, f"Queue {queue} resumed; {sent} waiting jobs sent.", messages.SUCCESS)
        return redirect("admin:media_processing_queuestate_changelist")
