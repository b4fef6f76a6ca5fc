import functools
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import BadRequest, ValidationError
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh, reswap, retarget, trigger_client_event

from i2v.lib.cache import reads_ahead
from i2v.lib.errors import refused_page, toast
from i2v.lib.forms import QueryFlagField
from i2v.lib.idempotency import first_send, form_key
from i2v.lib.ids import id_from_text
from i2v.lib.lists import ListResults
from i2v.lib.methods import unasked
from i2v.lib.pagination import CursorError
from i2v.lib.ratelimit import QuotaExceeded, RateLimited, rate_limited, too_many_response
from i2v.lib.ratelimit import check as check_rate
from i2v.lib.watch import watch_response

from .catalog import needs_confirmation
from .detail import OUTPUT_PAGE_HTML, STEP_PAGE_HTML, step_filters, step_rows, step_summary, steps_page, tiles
from .forms import BulkActionForm, JobsFilterForm, NewPipelineForm, PageForm, RenameForm, StepPageForm, TagForm, asset_ids
from .listing import PipelineListQuerySet, bare, owned_pipeline
from .models import Pipeline, Step, Tag
from .newer import NEWEST, Newer, NewerError, backward_cursor, top_key
from .newer import asked as newer_asked
from .recall import NOT_BOTH, NothingToRecall, parse_asset_id, parse_output_id, recalled, recalled_asset

PAGE = "jobs/jobs_page.html"
DETAIL = "jobs/pipeline_detail.html"
NEW = "jobs/new_pipeline.html"
CONFIRM = "jobs/confirm_action.html"
RECENT_SOURCES = 24


def _listed(request, owner_id=None):
    return ListResults(request, JobsFilterForm, scope="jobs", page=PAGE, append="rows", owner_id=owner_id)


@require_safe
@login_required
@vary_on_headers("HX-Request")
@reads_ahead(lambda request, owner_id: _listed(request, owner_id).entry)
def jobs_page(request):
    fragment = request.htmx and not request.htmx.history_restore_request
    listed = _listed(request)
    if fragment and (hit := listed.cached()) is not None:
        return HttpResponse(hit)
    form = JobsFilterForm(request.GET, default_page_size=20)
    results, status = listed.render(form, functools.partial(Pipeline.objects.jobs_list, request.user.id))
    if fragment:
        return HttpResponse(results, status=status)
    chosen = form.cleaned_data["tag"] if form.is_valid() else ""  # a tag the filter refused (a NUL, 20,000 characters) is no name
    context = {"form": form, "results": ListResults.in_page(results), "user_tags": request.user.tags.offered(chosen)[:200]}
    return render(request, PAGE, context, status=status)


def _row(request, pipeline_id):
    return owned_pipeline(request.user, pipeline_id, PipelineListQuerySet.for_jobs_page)


def _render_row(request, pipeline, status=200):
    return render(request, f"{PAGE}#row", {"p": pipeline}, status=status)


def _acted(request, pipeline_id):
    """What an action answers: the Jobs row it was taken on (the row menu's buttons target it), else the
    pipeline's page again (its own buttons reload it; without JavaScript, a redirect to it)."""
    if request.htmx and request.htmx.target == f"row-{pipeline_id}":
        return _render_row(request, _row(request, pipeline_id))
    return HttpResponseClientRefresh() if request.htmx else redirect("jobs:detail", pipeline_id)


def _from_page(request, pipeline_id):
    """Whether a change was asked for on the pipeline's page: its forms send it to the page's head (hx-target)
    or, without JavaScript, as plain forms. The Jobs row's star, menu and inline forms target the row."""
    return not request.htmx or request.htmx.target == f"head-{pipeline_id}"


def _changed(request, pipeline_id, status=200, **forms):
    """What a change to a pipeline's name, tags, star or hiding answers: the Jobs row it was made on, else the
    pipeline page's head, with a refused form's errors (`forms`); without JavaScript, the page again."""
    if not _from_page(request, pipeline_id):
        return _render_row(request, _row(request, pipeline_id))
    if not request.htmx and status == 200:
        return redirect("jobs:detail", pipeline_id)
    pipeline = owned_pipeline(request.user, pipeline_id, PipelineListQuerySet.with_tags)
    if request.htmx:
        return render(request, f"{DETAIL}#head", {"p": pipeline, "quick_tags": _quick_tags(pipeline), **forms}, status=status)
    return render(request, DETAIL, {**_detail_context(pipeline), **forms}, status=status)


def _redraw(response, target):
    """Send an inline form with its errors back into its own slot, not over the row."""
    return reswap(retarget(response, target), "innerHTML")


@require_safe
@login_required
def watch(request):
    """The page's rows at work, checked in one request (i2v/lib/watch.py): the changed
    ones come back as out-of-band rows, those gone as removals; with its bar's parameters
    (its top row's ?top=, or ?seen=; jobs/newer.py), the pipelines newer than its top row
    are counted, and the bar comes back too when the count moved; 204 when nothing changed."""
    news = None
    if "top" in request.GET or "seen" in request.GET:
        try:
            form = newer_asked(request)
        except NewerError as exc:
            return HttpResponseBadRequest(str(exc), content_type="text/plain")
        news = Newer.counted(request.user.pipelines, form, form.cleaned_data["top"], request.GET.get("top", ""))
    return watch_response(request, request.user.pipelines.changed_rows, f"{PAGE}#watched", "rows", news=news)


@require_safe
@login_required
def newer(request):
    """"Show" on the bar of new pipelines: those newer than the page's top row, put above it (jobs/newer.py).
    A page of them, the oldest first (the backward page of the top row), so no gap is left between them and
    the rows below; the bar again, out of band, with the new top row and what remains; the total above the
    list up by as many."""
    try:
        form = newer_asked(request)
        if form.cleaned_data["top"] is None:
            raise NewerError("Say which row is the list's top one: ?top=")
    except NewerError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain")
    cursor = backward_cursor(form.cleaned_data["top"])
    page, _ = Pipeline.objects.jobs_list(request.user.id, form.filters, NEWEST, cursor, form.size)
    if not page.items:  # gone since they were counted (deleted, or changed out of the filters)
        remaining = Newer(form.filters, request.GET["top"])
    elif page.has_previous:
        remaining = Newer.counted(request.user.pipelines, form, NEWEST.key_of(page.items[0]), top_key(page))
    else:
        remaining = Newer(form.filters, top_key(page))
    response = render(request, f"{PAGE}#newer_rows", {"page": page, "newer": remaining})
    return trigger_client_event(response, "totalChanged", {"by": len(page.items), "noun": "pipeline"})


@require_safe
@login_required
def pipeline_row(request, pipeline_id):
    """One row (a rename's Cancel redraws it); rows at work are kept up to date by watch()."""
    return _render_row(request, _row(request, pipeline_id))


def _detail_context(pipeline, status=None, steps_cursor=None, outputs_cursor=None, on_page=True):
    """The detail's bounded parts: the step summary, a page of steps (failures first in a big
    pipeline that has some, unless `status` says which) and a page of outputs; `on_page`, the
    pipeline's page (its status and cost), not an expanded row. Raises CursorError."""
    summary = step_summary(pipeline)
    status = summary.default_filter(STEP_PAGE_HTML) if status is None else status
    steps = steps_page(pipeline, status, steps_cursor, STEP_PAGE_HTML)
    context = {"p": pipeline, "on_page": on_page, **_steps_context(summary, status, steps), **_outputs_context(pipeline, outputs_cursor)}
    # The page's action buttons; its head's tag editor offers quick tags (a query where the head is drawn).
    return {**context, **_spending(pipeline), "quick_tags": _quick_tags(pipeline)} if on_page else context


def _quick_tags(pipeline):
    return Tag.objects.filter(owner_id=pipeline.owner_id).quick(exclude=pipeline)


def _outputs_context(pipeline, cursor=None, size=OUTPUT_PAGE_HTML):
    page = pipeline.outputs_page(cursor, size)["outputs"]
    return {"outputs": page, "tiles": tiles(page.items)}


def _steps_context(summary, status, steps):
    labels = dict(step_filters())
    return {
        "summary": summary, "step_filter": status, "filter_label": labels[status], "filter_count": summary.count(status),
        "steps": steps, "step_rows": step_rows(steps.items),
    }  # fmt: skip


def _detail_pipeline(request, pipeline_id):
    # The expansion shows no header, so under htmx the pipeline is just its id; the page shows its tags.
    return owned_pipeline(request.user, pipeline_id, bare if request.htmx else PipelineListQuerySet.with_tags)


@require_safe
@login_required
@vary_on_headers("HX-Request")
def pipeline_detail(request, pipeline_id):
    """Steps and output grid: the expanded row (HTMX) or a page of its own, which redraws its
    detail with its status and cost (HTMX, ?page=1); bounded whatever the size."""
    on_page = not request.htmx or request.GET.get("page") == "1"
    pipeline = owned_pipeline(request.user, pipeline_id, PipelineListQuerySet.with_tags if on_page else bare)
    template = f"{DETAIL}#detail" if request.htmx else DETAIL
    return render(request, template, _detail_context(pipeline, on_page=on_page))


@require_safe
@login_required
@vary_on_headers("HX-Request")
def pipeline_steps(request, pipeline_id):
    """The steps table in another filter (HTMX, no cursor), its next rows (HTMX, a cursor),
    or without JavaScript the detail page at that filter and cursor."""
    pipeline = _detail_pipeline(request, pipeline_id)
    form = StepPageForm(request.GET)
    if not form.is_valid():
        return _bad_page(request, " ".join(m for ms in form.errors.values() for m in ms))
    status, cursor = form.cleaned_data["status"], form.cleaned_data["cursor"]
    try:
        if not request.htmx:
            return render(request, DETAIL, _detail_context(pipeline, status, cursor))
        steps = steps_page(pipeline, status, cursor, STEP_PAGE_HTML)
        if cursor:
            return render(request, f"{DETAIL}#step_rows", {"p": pipeline, "step_filter": status, "steps": steps, "step_rows": step_rows(steps.items)})
        return render(request, f"{DETAIL}#steps", {"p": pipeline, **_steps_context(step_summary(pipeline), status, steps)})
    except CursorError as exc:
        return _bad_page(request, str(exc))


@require_safe
@login_required
@vary_on_headers("HX-Request")
def pipeline_outputs(request, pipeline_id):
    """More tiles of an expanded row's output grid, by keyset cursor."""
    form = PageForm(request.GET)
    # Without htmx (the "Show more" link followed without JavaScript) it is the whole detail page, at that cursor.
    pipeline = _detail_pipeline(request, pipeline_id)
    if not form.is_valid():
        return _bad_page(request, " ".join(m for ms in form.errors.values() for m in ms))
    try:
        if request.htmx:
            return render(request, f"{DETAIL}#tiles", {"p": pipeline, **_outputs_context(pipeline, form.cleaned_data["cursor"], form.size)})
        return render(request, DETAIL, _detail_context(pipeline, outputs_cursor=form.cleaned_data["cursor"]))
    except CursorError as exc:
        return _bad_page(request, str(exc))


def _bad_page(request, message):
    """A page of steps or outputs asked with parameters no link of ours has (escaped: it repeats what was sent)."""
    return refused_page(request, 400, "Bad page parameters", message)


@require_safe
@login_required
def row_menu(request, pipeline_id):
    """The row's action menu, loaded when first opened to keep every row small. It
    knows what a rerun, a retry and a resume would cost, so spending asks first above the threshold."""
    fields = ("id", "owner_id", "name", "is_hidden", "status", "mode", "config")
    pipeline = get_object_or_404(request.user.pipelines.only(*fields), pk=pipeline_id)
    return render(request, f"{PAGE}#menu", {"p": pipeline, **_spending(pipeline)})


def _spending(pipeline):
    """What the actions that spend would cost: a rerun (which always asks, saying how many generations it
    plans), a retry where one is offered (the pipeline failed) and a resume (it was cancelled), each asking
    first above the threshold; and the key their forms send once (`once`). For the row menu and the pipeline's page."""
    plan = _rerun_plan(pipeline)
    rerun_cost = plan["rerun_cost"]
    retry_cost = pipeline.retry_cost() if pipeline.status == Pipeline.Status.FAILED else None
    resume_cost = pipeline.resume_cost() if pipeline.status == Pipeline.Status.CANCELLED else None
    # Offered disabled, with the reason, when its steps could only fail here (a provider without its key):
    # as the New pipeline form offers such a model, rather than refusing the click with a toast.
    blocked = pipeline.unrunnable() if any(c is not None for c in (rerun_cost, retry_cost, resume_cost)) else ""
    # Their sources deleted since, a rerun, or a retry whose every step starts from one, is offered disabled too;
    # a resume also when nothing is left to resume, or its steps are still being stopped at the provider.
    retry_blocked = blocked or (pipeline.retry_sources_gone() if retry_cost is not None else "")
    resume_blocked = blocked or (pipeline.resume_conflict() or pipeline.resume_sources_gone() if resume_cost is not None else "")
    rerun_blocked = blocked or (pipeline.sources_gone() if rerun_cost is not None else "")
    return {
        **plan, "retry_cost": retry_cost, "retry_blocked": retry_blocked, "rerun_blocked": rerun_blocked, "once": form_key(),
        "confirm_retry": retry_cost is not None and needs_confirmation(retry_cost),
        "resume_cost": resume_cost, "resume_blocked": resume_blocked,
        "confirm_resume": resume_cost is not None and needs_confirmation(resume_cost),
    }  # fmt: skip


def _rerun_cost(pipeline):
    return Pipeline.estimate(pipeline.config) if pipeline.can_rerun else None


def _unconfirmed(request, cost, what):
    """The refusal of a spending action above the threshold that wasn't confirmed, or None."""
    if not needs_confirmation(cost) or request.POST.get("confirm") == "1":
        return None
    return toast(f"{what} may cost up to ${cost:.2f}; confirm to go ahead.")


def _over_quota(request, adding):
    try:
        Step.objects.check_quota(request.user, adding)
    except QuotaExceeded as exc:
        return too_many_response(request, exc)
    return None


@require_POST
@login_required
def toggle_favorite(request, pipeline_id):
    return _toggled(request, pipeline_id, "is_favorite")


@require_POST
@login_required
def toggle_hidden(request, pipeline_id):
    return _toggled(request, pipeline_id, "is_hidden")


def _toggled(request, pipeline_id, flag):
    """The row redrawn after its `flag` flips, or taken out of a list that no longer shows it."""
    pipeline = get_object_or_404(request.user.pipelines, pk=pipeline_id)
    pipeline.toggle(flag)
    if not _listed_there(request, hidden=pipeline.is_hidden, favorite=pipeline.is_favorite):
        return _removed(reswap(retarget(HttpResponse(""), f"#job-{pipeline.id}"), "outerHTML"), 1)
    return _changed(request, pipeline_id)


def _listed_there(request, hidden=None, favorite=None):
    """Whether the Jobs page that asked (htmx's HX-Current-URL) lists a pipeline now so hidden and so
    starred (None: as it was, so as listed): hidden out of the default view, unhidden out of "Only
    hidden" or un-starred out of Favourites, its row leaves the list."""
    try:
        url = urlsplit(request.htmx.current_url or "") if request.htmx else None
    except ValueError:  # a header no browser sends ("http://[::1"): no page of ours
        url = None
    if not url or url.path != reverse("jobs:page"):
        return True
    query = QueryDict(url.query)
    shown = query.get("hidden", "")
    if hidden is not None and shown in ("", "only") and (shown == "only") != hidden:
        return False
    return favorite is not False or not QueryFlagField().prepare_value(query.get("favorites"))


def _removed(response, count):
    """A response that takes `count` rows out of the list: app.js lowers the total by as many."""
    return trigger_client_event(response, "totalChanged", {"by": -count, "noun": "pipeline"})


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def rename(request, pipeline_id):
    pipeline = get_object_or_404(request.user.pipelines, pk=pipeline_id)
    form = RenameForm(request.POST or None, initial={"name": pipeline.name})
    if request.method == "POST":
        if form.is_valid():
            pipeline.rename(form.cleaned_data["name"])
            return _changed(request, pipeline_id)
        if _from_page(request, pipeline_id):
            return _changed(request, pipeline_id, 422, rename_form=form)
        response = render(request, f"{PAGE}#rename", {"p": pipeline, "form": form}, status=422)
        return _redraw(response, f"#row-{pipeline.id} [data-part=name]")
    return render(request, f"{PAGE}#rename", {"p": pipeline, "form": form})


@require_POST
@login_required
def delete(request, pipeline_id):
    pipeline = get_object_or_404(request.user.pipelines.only("id", "owner_id", "name"), pk=pipeline_id)
    request.user.pipelines.filter(pk=pipeline.pk).apply_bulk("delete", request.user)
    if _from_page(request, pipeline_id):
        # Its page asked first (its form is behind a disclosure) and is gone: the Jobs page says what went.
        messages.success(request, f"Deleted “{pipeline.name}”.")
        return _to_jobs(request)
    # An empty 200 swapped over the row's container removes it from the list.
    return _removed(HttpResponse(""), 1)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def tags(request, pipeline_id):
    """GET: the tag editor (current tags, quick tags, a field). POST: add one tag."""
    pipeline = get_object_or_404(request.user.pipelines.with_tags(), pk=pipeline_id)
    form = TagForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                pipeline.add_tag(form.cleaned_data["name"])
                return _changed(request, pipeline_id)
            except ValidationError as error:
                form.add_error("name", error)
        if _from_page(request, pipeline_id):
            return _changed(request, pipeline_id, 422, tag_form=form)
    context = {"p": pipeline, "form": form, "quick_tags": request.user.tags.quick(exclude=pipeline)}
    response = render(request, f"{PAGE}#tag_editor", context, status=422 if form.is_bound else 200)
    # On an error the editor redraws itself instead of replacing the row.
    return _redraw(response, "#row-menu") if form.is_bound else response


@require_POST
@login_required
def remove_tag(request, pipeline_id, tag_id):
    get_object_or_404(request.user.pipelines, pk=pipeline_id).remove_tag(tag_id)
    return _changed(request, pipeline_id)


@require_POST
@login_required
def bulk(request):
    """One action over the selected rows; the response re-renders each of them out of band, or removes those
    that left the list, which is all app.js goes by to keep the rest of the selection for a next action."""
    form = BulkActionForm(request.POST)
    if not form.is_valid():
        return toast(form.first_error())
    action = form.cleaned_data["action"]
    selected = request.user.pipelines.filter(pk__in=form.cleaned_data["ids"])
    ids = list(selected.values_list("pk", flat=True))
    left = selected.apply_bulk(action, request.user, form.cleaned_data["tag"])
    # Deleted rows leave the list, and so do rows hidden, unhidden or un-starred out of the page's view.
    changed = {"hide": {"hidden": True}, "unhide": {"hidden": False}, "unfavorite": {"favorite": False}}.get(action)
    leaving = action == "delete" or (changed is not None and not _listed_there(request, **changed))
    context = {
        "deleted": ids if leaving else [],
        "rows": [] if leaving else request.user.pipelines.for_jobs_page().filter(pk__in=ids),
        "message": form.summary(len(ids) - len(left), left=len(left)),
    }
    response = render(request, f"{PAGE}#bulk_result", context)
    return _removed(response, len(ids)) if leaving else response


def _to_jobs(request):
    """Land on the Jobs page, where the new row shows its progress."""
    url = reverse("jobs:page")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _new_context(request, form, preselection):
    chosen_ids = preselection.ids
    images = request.user.assets.usable_as_sources().for_library()
    found = list(images.filter(pk__in=chosen_ids)) if chosen_ids else []
    # The recent images stay where they are, ticked or not (a form sent back with an error moved the
    # ticked ones to the front, under the pointer); chosen ones older than those go before them.
    recent = list(images.order_by("-created_at", "-id")[:RECENT_SOURCES])
    shown = {a.id for a in recent}
    return {
        "form": form, "chosen": [a for a in found if a.id not in shown], "recent": recent, "chosen_ids": set(chosen_ids),
        # Videos, failed or unfetched imports, deleted or others' assets, items no id: said, not dropped silently.
        "left_out": preselection.unread + len(chosen_ids) - len(found), "past_limit": preselection.past_limit,
        "max_sources": settings.PIPELINE_MAX_SOURCES,
        "threshold": settings.PIPELINE_CONFIRM_ABOVE_USD, "once": form_key(),
        "prompt_llm": settings.PROMPT_LLM_URL and (settings.PROMPT_LLM_MODEL or "the prompt model"),
        # Each marked if it names a list that is gone: offered as it is, it would only say so once picked.
        "saved_templates": request.user.prompt_templates.only("id", "name", "text")[:20].checked(request.user.prompt_lists.values_list("name", flat=True)),
    }  # fmt: skip


def _saved_template(request):
    """?template=<id> starts the form from one of the user's saved templates (the Prompts page links here)."""
    pk = id_from_text(request.GET.get("template", ""))
    found = pk and request.user.prompt_templates.filter(pk=pk).values_list("text", flat=True).first()
    return found or ""


def _recall(request):
    """(initial, source ids, page context) of ?recall= or ?recall_asset= (jobs/recall.py), or None when
    neither is asked for. An image with nothing to recall raises NothingToRecall."""
    output_id = parse_output_id(request.GET.get("recall", ""))
    asset_id = parse_asset_id(request.GET.get("recall_asset", ""))
    if output_id is not None and asset_id is not None:
        raise BadRequest(NOT_BOTH)
    if output_id is not None:
        return (*recalled(request.user, output_id), {})
    if asset_id is not None:
        initial, carried, not_carried, asset = recalled_asset(request.user, asset_id)
        return initial, [], _recalled_from(asset, carried, not_carried)
    return None


def _recalled_from(asset, carried, not_carried):
    return {"recalled_from": {"asset": asset, "carried": carried, "not_carried": not_carried}}


def _recalled_again(request):
    """A refused form's notice of the upload it was filled in from (its hidden `recall_asset`), read again:
    what wasn't carried over is still to be changed by hand. Nothing when that image is gone or unreadable."""
    try:
        asset_id = parse_asset_id(request.POST.get("recall_asset", ""))
        if asset_id is None:
            return {}
        _, carried, not_carried, asset = recalled_asset(request.user, asset_id)
    except (BadRequest, Http404, NothingToRecall):
        return {}
    return _recalled_from(asset, carried, not_carried)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@rate_limited("pipelines")
def new_pipeline(request):
    """The New pipeline page; ?assets=1,2,3 preselects sources (the Library's selection),
    ?recall=<output id> fills it in to make that output again, ?recall_asset=<image id> from the settings
    inside an image's file (the viewer's "Recall settings", jobs/recall.py)."""
    if request.method != "POST":  # GET, or HEAD
        chosen = asset_ids(request.GET.get("assets", ""))
        initial = {"i2i_enabled": True, "mode": "auto", "template": _saved_template(request)}
        try:
            initial, sources, context = _recall(request) or (initial, [], {})
        except NothingToRecall as exc:
            return refused_page(request, 422, "Nothing to recall", str(exc))
        chosen = chosen._replace(ids=list(dict.fromkeys(chosen.ids + sources)))
        form = NewPipelineForm(owner=request.user, initial=initial)
        return render(request, NEW, {**_new_context(request, form, chosen), **context})
    form = NewPipelineForm(request.POST, owner=request.user)
    if form.is_valid():
        refusal = _over_quota(request, form.outputs)
        if refusal:
            return refusal
        # Sent twice (a double click, a reload, Back and send again), the form makes one pipeline.
        first, _ = _sent_once(request, lambda: Pipeline.objects.create_from_request(request.user, form.cleaned_data))
        if first is not None:
            if first is False:
                messages.info(request, "That form was already sent: its pipeline is below, not made twice.")
            return _to_jobs(request)
        form.add_error(None, STALE_FORM)  # drawn again with a key: what was typed is kept
    template = f"{NEW}#form" if request.htmx else NEW
    context = _new_context(request, form, asset_ids(request.POST.getlist("sources")))
    return render(request, template, {**context, **_recalled_again(request)}, status=422)


@require_POST
@login_required
def estimate(request):
    """The live cost estimate, re-rendered as the form changes."""
    form = NewPipelineForm(request.POST, owner=request.user)
    form.is_valid()
    context = {"form": form, "threshold": settings.PIPELINE_CONFIRM_ABOVE_USD, "estimating": True}
    return render(request, f"{NEW}#estimate", context)


def _done(request, pipeline_id, message):
    """An action taken: what _acted() answers; without JavaScript, the page it lands on says what was done."""
    if not request.htmx:
        messages.success(request, message)
    return _acted(request, pipeline_id)


def _refused(request, pipeline_id, error, response=None, status=422):
    """An action refused: to htmx, `response` (a 429's) or `error` as the page's toast, the row or page left
    as it is; without JavaScript, the pipeline's page saying why (a fragment there would be a bare page)."""
    if not request.htmx:
        messages.error(request, error)
        return redirect("jobs:detail", pipeline_id)
    return response or toast(error, status)


def _confirmation(request, pipeline, action, refusal="", **context):
    """The confirmation page of a plain form's action, in the words htmx's hx-confirm uses (GET or HEAD: nothing
    is done), or why the action can't be taken now (409), the pipeline's state having moved on."""
    context = {"p": pipeline, "action": action, "refusal": refusal, "once": form_key(), **context}
    return render(request, CONFIRM, context, status=409 if refusal else 200)


def _sent_once(request, act):
    """(first, what act() returned): `act` is run only if this form (its `once` key, drawn with it) wasn't sent
    before, so a double click, a reload or a resend acts once. The key is taken in the action's transaction: a
    failed one leaves it unused. `first` is None when the form has no key of ours, False when it was sent before."""
    with transaction.atomic():
        first = first_send(request.user, request.path, request.POST.get("once"))
        return first, act() if first else None


STALE_FORM = "This page is out of date: reload it and try again."


def _not_again(request, pipeline, first, what):
    """The refusal of a form with no key (`first` None) or sent before (False)."""
    if first is None:
        return _refused(request, pipeline.id, STALE_FORM, status=400)
    return _refused(request, pipeline.id, f"“{pipeline.name}” was already {what} from this form: it was not sent again.", status=409)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def cancel(request, pipeline_id):
    """POST cancels (htmx asked first); GET is the confirmation page a plain form (no JavaScript) goes to first."""
    pipeline = get_object_or_404(request.user.pipelines, pk=pipeline_id)
    refusal = pipeline.cancel_refusal()
    if request.method != "POST":
        return _confirmation(request, pipeline, "cancel", refusal)
    if refusal:
        return _refused(request, pipeline_id, refusal, status=409)
    if asking := unasked(request):
        return asking
    pipeline.cancel()
    return _done(request, pipeline_id, f"Cancelled “{pipeline.name}”: running steps stop, nothing more is charged.")


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def retry(request, pipeline_id):
    """Run failed and unknown steps again: each may be billed once more, so it asks above the threshold (htmx:
    hx-confirm; a plain form: GET is the confirmation page), and the same form sent twice retries once."""
    pipeline = get_object_or_404(request.user.pipelines, pk=pipeline_id)
    refusal = pipeline.retry_refusal()
    if request.method != "POST":
        # The page offers Retry on a failed pipeline only; one that isn't (retried since, in another tab) has nothing to.
        refusal = refusal or ("" if pipeline.status == Pipeline.Status.FAILED else Pipeline.NOTHING_TO_RETRY)
        return _confirmation(request, pipeline, "retry", refusal, retry_cost=pipeline.retry_cost())
    if refusal:
        return _refused(request, pipeline_id, refusal)
    if asking := unasked(request):
        return asking
    refusal = _unconfirmed(request, pipeline.retry_cost(), "Retrying")
    if refusal:
        return refusal
    first, retried = _sent_once(request, pipeline.retry_failed)
    if not first:
        return _not_again(request, pipeline, first, "retried")
    if not retried:  # a page older than the pipeline's state (another tab retried it)
        return _refused(request, pipeline_id, Pipeline.NOTHING_TO_RETRY)
    return _done(request, pipeline_id, f"Retrying {retried} step{pluralize(retried)} of “{pipeline.name}”.")


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def resume(request, pipeline_id):
    """Run on what a cancel stopped, leaving what was done as it is (Pipeline.resume()): each step sent to its
    provider again may be billed once more, so it asks above the threshold as a retry does (htmx: hx-confirm;
    a plain form: GET is the confirmation page), and the same form sent twice resumes once."""
    pipeline = get_object_or_404(request.user.pipelines, pk=pipeline_id)
    conflict = pipeline.resume_conflict()
    if request.method != "POST":
        refusal = conflict or pipeline.resume_refusal()
        return _confirmation(request, pipeline, "resume", refusal, resume_cost=None if refusal else pipeline.resume_cost())
    if conflict:
        return _refused(request, pipeline_id, conflict, status=409)
    if refusal := pipeline.resume_refusal():
        return _refused(request, pipeline_id, refusal)
    if asking := unasked(request):
        return asking
    if refusal := _unconfirmed(request, pipeline.resume_cost(), "Resuming"):
        return refusal
    try:
        Step.objects.check_quota(request.user, pipeline.resumable_steps.count())
    except QuotaExceeded as exc:
        return _refused(request, pipeline_id, exc.message, too_many_response(request, exc))
    first, resumed = _sent_once(request, pipeline.resume)
    if not first:
        return _not_again(request, pipeline, first, "resumed")
    if not resumed:  # a page older than the pipeline's state (another tab resumed it)
        return _refused(request, pipeline_id, Pipeline.NOTHING_TO_RESUME, status=409)
    return _done(request, pipeline_id, f"Resuming {resumed} step{pluralize(resumed)} of “{pipeline.name}”.")


@require_POST
@login_required
def approve(request, pipeline_id):
    pipeline = get_object_or_404(request.user.pipelines, pk=pipeline_id)
    # Its stage under review is queued once: a second POST (a double click) finds none left to approve.
    if not pipeline.approve():
        return _refused(request, pipeline_id, "Nothing is waiting for approval: the stage was approved or cancelled already.", status=409)
    return _done(request, pipeline_id, f"Approved: the next stage of “{pipeline.name}” runs.")


def _rerun_plan(pipeline):
    """What a rerun would make: its generations (planned outputs) and their estimated cost (None: no rerun)."""
    if not pipeline.can_rerun:
        return {"rerun_cost": None, "rerun_steps": 0}
    return {"rerun_cost": _rerun_cost(pipeline), "rerun_steps": Pipeline.plan(pipeline.config)}


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def rerun(request, pipeline_id):
    """A new pipeline with the same settings. It may be hundreds of generations, paid or on the person's own
    GPU, so it always asks, with how many and what they cost (htmx: hx-confirm; a plain form: GET is the
    confirmation page); the same form sent twice reruns once."""
    pipeline = get_object_or_404(request.user.pipelines, pk=pipeline_id)
    refusal = pipeline.rerun_refusal()
    if request.method != "POST":
        return _confirmation(request, pipeline, "rerun", refusal, **_rerun_plan(pipeline))
    if refusal:
        return _refused(request, pipeline_id, refusal)
    if asking := unasked(request):
        return asking
    plan = _rerun_plan(pipeline)
    refusal = _unconfirmed(request, plan["rerun_cost"], "This rerun")
    if refusal:
        return refusal
    try:
        # Counted here rather than by @rate_limited, so that without JavaScript a refusal is said on the page.
        check_rate("pipelines", request.user.pk)
        Step.objects.check_quota(request.user, plan["rerun_steps"])
    except RateLimited as exc:  # QuotaExceeded too
        return _refused(request, pipeline_id, exc.message, too_many_response(request, exc))
    first, _ = _sent_once(request, pipeline.rerun)
    if not first:
        return _not_again(request, pipeline, first, "rerun")
    if not request.htmx:
        steps = plan["rerun_steps"]
        messages.success(request, f"“{pipeline.name}” runs again as a new pipeline: {steps:,} generation{pluralize(steps)}.")
    return _to_jobs(request)
