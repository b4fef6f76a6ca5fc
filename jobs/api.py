"""JSON API for pipelines: the same data as the Jobs page, for scripts."""

from urllib.parse import urlencode

from django.http import HttpResponse
from django.urls import reverse

from i2v.lib.cache import ListEntry, reads_ahead
from i2v.lib.errors import ApiError, api_view, form_error
from i2v.lib.idempotency import idempotent
from i2v.lib.jsonbody import json_body
from i2v.lib.jsonout import dumps, json_response
from i2v.lib.pagination import CursorError, Total, pagination_json
from i2v.lib.ratelimit import QuotaExceeded, rate_limited, too_many_response

from .detail import STEP_PAGE_API, step_summary, steps_page
from .forms import JobsFilterForm, NewPipelineForm, PageForm, StepPageForm
from .listing import PipelineListQuerySet, bare, owned_pipeline
from .models import Pipeline, Step


def _listed(request, owner_id=None):
    return ListEntry.for_request(request, JobsFilterForm, "jobs", "api_pipelines", owner_id)


@api_view(methods=("GET", "POST"))
@rate_limited("pipelines")
@reads_ahead(_listed)
def pipelines(request):
    if request.method == "POST":
        return create_pipeline(request)
    entry = _listed(request)
    if (hit := entry.cached()) is not None:
        return HttpResponse(hit, content_type="application/json")  # no form, no query: one cache read
    form = JobsFilterForm(request.GET, default_page_size=50)
    if not form.is_valid():
        raise form_error(form)

    def build():
        try:
            page, total = Pipeline.objects.jobs_list(request.user.id, **form.list_args())
        except CursorError as exc:
            raise ApiError(400, "invalid_cursor", str(exc), "cursor") from None
        return dumps({"items": [p.as_summary() for p in page.items], "pagination": pagination_json(page, total)})

    body = entry.through(build)
    return HttpResponse(body, content_type="application/json")


def _next_url(name, pipeline_id, page, **params):
    if not page.has_next:
        return None
    return f"{reverse(name, args=[pipeline_id])}?{urlencode({**params, 'cursor': page.next_cursor})}"


@api_view(methods=("GET", "DELETE"))
def pipeline(request, pipeline_id):
    if request.method == "DELETE":
        return delete_pipeline(request, pipeline_id)
    return json_response(pipeline_json(request.user, pipeline_id))


def pipeline_json(user, pipeline_id):
    """The pipeline with a summary of its steps and the first page of steps and of outputs:
    the same size for 5 steps as for 2,000; the rest is at the next_url of each."""
    pipeline = owned_pipeline(user, pipeline_id, PipelineListQuerySet.with_tags)
    summary = step_summary(pipeline)
    status = summary.default_filter(STEP_PAGE_API)
    steps, outputs = steps_page(pipeline, status), pipeline.outputs_page()["outputs"]
    data = pipeline.as_detail(summary, steps, outputs, summary.count(status))
    data["steps_pagination"].update(status=status, next_url=_next_url("jobs:api_steps", pipeline.id, steps, status=status))
    data["outputs_pagination"]["next_url"] = _next_url("jobs:api_outputs", pipeline.id, outputs)
    return data


def delete_pipeline(request, pipeline_id):
    """DELETE /api/pipelines/<id>: as the page's Delete, the pipeline with its steps and outputs (the
    library keeps their images), by the bulk action's one delete; 204."""
    pipeline = owned_pipeline(request.user, pipeline_id, bare)
    request.user.pipelines.filter(pk=pipeline.pk).apply_bulk("delete", request.user)
    return HttpResponse(status=204)


def _page_form(request, form_class, pipeline_id):
    form = form_class(request.GET)
    if not form.is_valid():
        raise form_error(form)
    return form, owned_pipeline(request.user, pipeline_id, _with_counts)


def _with_counts(pipelines):
    """A pipeline as a page of its steps or outputs needs it: its owner, and the counts the database's
    triggers keep (migration 0019), a first page's total at no query of its own."""
    return pipelines.only("id", "owner_id", "step_count", "output_count")


def _bad_cursor(exc):
    return ApiError(400, "invalid_cursor", str(exc), "cursor")


@api_view(methods=("GET",))
def pipeline_steps(request, pipeline_id):
    """GET /api/pipelines/<id>/steps?status=&cursor=&page_size=: the steps in order, one keyset page."""
    form, pipeline = _page_form(request, StepPageForm, pipeline_id)
    status, cursor = form.cleaned_data["status"], form.cleaned_data["cursor"]
    try:
        page = steps_page(pipeline, status, cursor, form.size)
    except CursorError as exc:
        raise _bad_cursor(exc) from None
    # Counted on a first page only, as every list: a filter's count from the step summary's index range.
    total = None if cursor else Total(step_summary(pipeline).count(status) if status else pipeline.step_count)
    next_url = _next_url("jobs:api_steps", pipeline.id, page, status=status, page_size=form.size)
    pagination = {**pagination_json(page, total), "next_url": next_url}
    return json_response({"items": [s.as_json() for s in page.items], "pagination": pagination})


@api_view(methods=("GET",))
def pipeline_outputs(request, pipeline_id):
    form, pipeline = _page_form(request, PageForm, pipeline_id)
    try:
        page = pipeline.outputs_page(form.cleaned_data["cursor"], form.size)["outputs"]
    except CursorError as exc:
        raise _bad_cursor(exc) from None
    total = None if form.cleaned_data["cursor"] else Total(pipeline.output_count)
    pagination = {**pagination_json(page, total), "next_url": _next_url("jobs:api_outputs", pipeline.id, page, page_size=form.size)}
    return json_response({"items": [o.as_json() for o in page.items], "pagination": pagination})


@idempotent
def create_pipeline(request):
    """POST /api/pipelines: the New pipeline form as JSON; 202 at once, the work runs in workers.

    Honours Idempotency-Key: a retried request gets the first answer, not a second pipeline.
    Above PIPELINE_CONFIRM_ABOVE_USD it needs "confirm_cost": true, like the page.
    """
    body = json_body(request)
    form = NewPipelineForm(body, owner=request.user)
    if not form.is_valid():
        if form.needs_confirmation:
            raise ApiError(422, "confirmation_required", form.errors["confirm_cost"][0], "confirm_cost")
        raise form_error(form, status=422)
    try:
        Step.objects.check_quota(request.user, form.outputs)
    except QuotaExceeded as exc:
        return too_many_response(request, exc)
    return accepted(Pipeline.objects.create_from_request(request.user, form.cleaned_data))


def accepted(pipeline, **data):
    """202 for work accepted on `pipeline` (made, retried, rerun): its id, status and where to follow it."""
    status_url = f"/api/pipelines/{pipeline.id}"
    response = json_response({"id": pipeline.id, "status": pipeline.status, "status_url": status_url, **data}, status=202)
    response["Location"] = status_url
    return response
