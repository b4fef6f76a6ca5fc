"""The JSON API's actions on a pipeline (cancel, retry, resume, rerun), the Jobs page's buttons for scripts.

Their rules are the pipeline's own (jobs/models.py), asked in the page's order. Every refusal is raised
(an ApiError), never returned: `idempotent` then stores no answer under the request's Idempotency-Key,
so the same key can be sent again once the refusal is put right (a confirm_cost added is another body,
which a stored answer would refuse as the key reused). DELETE /api/pipelines/<id> is jobs/api.py's.
"""

from django.shortcuts import get_object_or_404

from i2v.lib.errors import ApiError, api_view, form_error
from i2v.lib.idempotency import idempotent
from i2v.lib.jsonbody import declared_length, json_body
from i2v.lib.jsonout import json_response
from i2v.lib.ratelimit import QuotaExceeded, rate_limited, too_many_response

from .api import accepted, pipeline_json
from .forms import ConfirmCostForm
from .models import Pipeline, Step


def _body(request):
    """The bound ConfirmCostForm of the request's body, which every action reads, so that a body no script
    means (not JSON, a list, too deep) is a 4xx wherever it is sent: none at all is {} (an action that costs
    nothing needs none), anything else must be a JSON object (json_body())."""
    form = ConfirmCostForm(json_body(request) if declared_length(request) else {})
    if not form.is_valid():
        raise form_error(form, status=422)
    return form


def _confirm(form, cost, what):
    if not form.confirmed(cost):
        message = f'{what} may cost up to ${cost:.2f}: send "confirm_cost": true to go ahead.'
        raise ApiError(422, "confirmation_required", message, "confirm_cost")


@api_view(methods=("POST",))
def cancel(request, pipeline_id):
    """POST /api/pipelines/<id>/cancel: its waiting steps cancelled, running ones stopped at their next
    checkpoint; 200 with the pipeline as GET /api/pipelines/<id> has it, 409 when nothing is left to stop."""
    pipeline = get_object_or_404(request.user.pipelines, pk=pipeline_id)
    _body(request)
    if refusal := pipeline.cancel_refusal():
        raise ApiError(409, "conflict", refusal)
    pipeline.cancel()
    return json_response(pipeline_json(request.user, pipeline.id))


@api_view(methods=("POST",))
@idempotent
def retry(request, pipeline_id):
    """POST /api/pipelines/<id>/retry: its failed and unknown steps run again, each maybe billed once more
    (above the threshold, "confirm_cost": true); 202, 409 with none to retry, 422 when it could only fail."""
    pipeline = get_object_or_404(request.user.pipelines, pk=pipeline_id)
    form = _body(request)
    if not pipeline.retryable_steps.exists():
        raise ApiError(409, "conflict", Pipeline.NOTHING_TO_RETRY)
    if refusal := pipeline.retry_refusal():
        raise ApiError(422, "refused", refusal)
    _confirm(form, pipeline.retry_cost(), "Retrying")
    retried = pipeline.retry_failed()
    if not retried:  # another request retried them since they were counted
        raise ApiError(409, "conflict", Pipeline.NOTHING_TO_RETRY)
    return accepted(pipeline, retried=retried)


@api_view(methods=("POST",))
@idempotent
def resume(request, pipeline_id):
    """POST /api/pipelines/<id>/resume: the steps a cancel stopped run on, those done kept as they are, each sent
    to its provider again maybe billed once more (above the threshold, "confirm_cost": true); 202, 409 with none
    to resume (or while they are still being stopped at the provider), 422 when it could only fail, 429 over quota."""
    pipeline = get_object_or_404(request.user.pipelines, pk=pipeline_id)
    form = _body(request)
    if conflict := pipeline.resume_conflict():
        raise ApiError(409, "conflict", conflict)
    if refusal := pipeline.resume_refusal():
        raise ApiError(422, "refused", refusal)
    _confirm(form, pipeline.resume_cost(), "Resuming")
    try:
        Step.objects.check_quota(request.user, pipeline.resumable_steps.count())
    except QuotaExceeded as exc:
        return too_many_response(request, exc)
    resumed = pipeline.resume()
    if not resumed:  # another request resumed them since they were counted
        raise ApiError(409, "conflict", Pipeline.NOTHING_TO_RESUME)
    return accepted(pipeline, resumed=resumed)


@api_view(methods=("POST",))
@rate_limited("pipelines")  # a rerun is a new pipeline: it counts as one made by POST /api/pipelines
@idempotent
def rerun(request, pipeline_id):
    """POST /api/pipelines/<id>/rerun: a new pipeline with the same settings (above the threshold,
    "confirm_cost": true); 202 with the new one's id and status_url, 422 when it can't be rerun."""
    pipeline = get_object_or_404(request.user.pipelines, pk=pipeline_id)
    form = _body(request)
    if refusal := pipeline.rerun_refusal():
        raise ApiError(422, "refused", refusal)
    _confirm(form, Pipeline.estimate(pipeline.config), "This rerun")
    try:
        Step.objects.check_quota(request.user, Pipeline.plan(pipeline.config))
    except QuotaExceeded as exc:
        return too_many_response(request, exc)
    return accepted(pipeline.rerun())
