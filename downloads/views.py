"""Downloads: a zip of selected outputs, pipelines and Library items, or one file under a readable name."""

from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_safe

from i2v.lib.errors import for_scripts, refusal
from jobs.models import Output
from library.media import serve

from .archive import ASSET_FIELDS, OUTPUT_FIELDS, Selection, SelectionRefused, library_file_name, output_file_name, stream
from .forms import SelectionForm


def _refused(request, status, message):
    if for_scripts(request):
        return refusal(status, message)
    back = request.headers.get("Referer", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "/"
    return render(request, "downloads/refused.html", {"message": message, "back": back}, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def archive(request):
    """GET /downloads/zip?outputs=1,2&pipelines=3&assets=4: one zip, streamed as it is made.

    The pages POST the same fields (a selection of hundreds of ids is longer
    than a request line may be). The selection is checked (and sized) before
    the first byte; someone else's ids are left out, and a selection of
    nothing of the user's is a 404.
    """
    form = SelectionForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        return _refused(request, form.status, form.first_error())
    selection = Selection(request.user, **form.cleaned_data)
    try:
        selection.check()
    except SelectionRefused as refused:
        return _refused(request, refused.status, refused.message)
    # A HEAD is checked as its GET is and gets its headers, but no zip is made: nothing of it would be sent.
    body = [] if request.method == "HEAD" else stream(selection.entries())
    response = StreamingHttpResponse(body, content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, selection.archive_name(timezone.now()))
    response["Cache-Control"] = "private, no-store"
    # nginx passes it on as it comes instead of spooling gigabytes to a temp file first.
    response["X-Accel-Buffering"] = "no"
    return response


@require_safe
@login_required
def output_file(request, output_id):
    """One output's file, as an attachment under the name it has in a zip."""
    rows = Output.objects.filter(owner=request.user).select_related("pipeline", "step", "asset").only(*OUTPUT_FIELDS)
    output = get_object_or_404(rows, pk=output_id, asset__original__gt="")
    return serve(request, output.asset.original.name, download_name=output_file_name(output))


@require_safe
@login_required
def asset_file(request, asset_id):
    """One Library item's file, as an attachment under its original name; a generated one under the
    name of the output it is (as in a zip)."""
    asset = get_object_or_404(request.user.assets.only(*ASSET_FIELDS), pk=asset_id, original__gt="")
    return serve(request, asset.original.name, download_name=library_file_name(request.user, asset))
