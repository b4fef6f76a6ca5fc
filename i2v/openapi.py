"""The OpenAPI 3.1 description of the JSON API, served at GET /api/openapi.json.

Written as data, next to the code, rather than generated: the API is a handful of
function views with Django forms, which no generator reads well, and docs/api.md
is the prose this mirrors (every endpoint there is here; i2v/tests/test_openapi.py
checks that both agree with the URL patterns). schemathesis fuzzes the API from it.
"""

from django.conf import settings
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from i2v.lib.jsonout import json_response

from jobs.models import Pipeline
from jobs.providers import SEED_MAX
from library.models import Asset


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema, description):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description):
    return _json(_ref("Error"), description)


ERRORS = {
    "400": _error("A bad parameter, cursor or body (`field` names it)."),
    "401": _error("Not logged in, or a wrong token."),
    "429": {**_error("Over a rate limit; `Retry-After` says when to try again."),
            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}},
}  # fmt: skip
NOT_FOUND = {"404": _error("No such object, or not yours.")}
# A pipeline action's body: none, or a JSON object; `confirm_cost` says yes to a retry, resume or rerun above the threshold.
ACTION_BODY = {"required": False, "content": {"application/json": {"schema": {
    "type": "object", "properties": {"confirm_cost": {"type": "boolean"}}}}}}  # fmt: skip
ACTION_ERRORS = {**NOT_FOUND, "403": _error("A browser session without its CSRF token."),
                 "413": _error("The body is over the size limit."), **ERRORS}  # fmt: skip
# The ends of the calendar are valid dates too (and made 500s once): examples schemathesis tries first.
DATE = {"type": "string", "format": "date", "description": "YYYY-MM-DD, inclusive, UTC",
        "examples": ["2026-03-10", "9999-12-31", "0001-01-01"]}
ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
PAGE = [
    {"name": "cursor", "in": "query", "schema": {"type": "string", "maxLength": 2000},
     "description": "next_cursor or prev_cursor of a previous page, unchanged."},
    {"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
]  # fmt: skip


def _query(name, schema, description=""):
    return {"name": name, "in": "query", "schema": schema, **({"description": description} if description else {})}


def _choices(choices, blank=True):
    return {"type": "string", "enum": ([""] if blank else []) + [value for value, _ in choices]}


def _pipeline_filters():
    models = [(k, k) for k in settings.GENERATION_MODELS]
    sorts = [("newest", ""), ("oldest", ""), ("name", ""), ("cost", "")]
    return [
        _query("status", _choices(Pipeline.Status.choices)),
        _query("tag", {"type": "string", "maxLength": 40}, "A tag name ([a-z0-9-])."),
        _query("favorites", {"type": "boolean"}),
        _query("hidden", {"type": "string", "enum": ["", "include", "only"]}),
        _query("q", {"type": "string", "maxLength": 200}, "Text in the name or the prompts."),
        _query("date_from", DATE), _query("date_to", DATE),
        _query("model", _choices(models)), _query("sort", _choices(sorts)),
        *PAGE,
    ]  # fmt: skip


def _library_filters():
    return [
        _query("kind", _choices(Asset.Kind.choices)),
        _query("source", _choices(Asset.Source.choices)),
        _query("status", _choices(Asset.Status.choices)),
        _query("favorites", {"type": "boolean"}, "Only the assets starred in the viewer (hidden ones as `hidden` says)."),
        _query("hidden", {"type": "string", "enum": ["", "include", "only"]}, "Assets hidden from the viewer: left out by default."),
        _query("q", {"type": "string", "maxLength": 200}, "Text in the file name or the prompt."),
        _query("date_from", DATE), _query("date_to", DATE),
        *PAGE,
    ]  # fmt: skip


NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_INT = {"type": ["integer", "null"]}

SCHEMAS = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message", "field"], "properties": {
            "code": {"type": "string"}, "message": {"type": "string"}, "field": NULLABLE_STRING}}},
    },
    "Pagination": {
        "type": "object",
        "required": ["page_size", "has_next", "next_cursor", "has_previous", "prev_cursor", "total_count", "total_is_estimate", "total_is_lower_bound"],
        "properties": {
            "page_size": {"type": "integer"}, "has_next": {"type": "boolean"}, "next_cursor": NULLABLE_STRING,
            "has_previous": {"type": "boolean"}, "prev_cursor": NULLABLE_STRING, "total_count": NULLABLE_INT,
            "total_is_estimate": {"type": "boolean"},
            # A fetch stopped counting past a bound: the matches are total_count or more.
            "total_is_lower_bound": {"type": "boolean"},
        },
    },
    "PipelineSummary": {
        "type": "object", "required": ["id", "name", "status", "model", "cost", "created_at", "tags"],
        "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"}, "status": {"type": "string"},
            "model": {"type": "string"}, "cost": {"type": "string"}, "created_at": {"type": "string"},
            "is_favorite": {"type": "boolean"}, "step_count": {"type": "integer"}, "output_count": {"type": "integer"},
            "thumbnail_url": NULLABLE_STRING, "tags": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Step": {"type": "object", "required": ["id", "kind", "order", "status"], "properties": {
        "id": {"type": "integer"}, "kind": {"type": "string"}, "order": {"type": "integer"},
        "status": {"type": "string"}, "progress": {"type": "integer"}, "model": NULLABLE_STRING,
        "prompt": NULLABLE_STRING, "config": {"type": "object"}, "error": NULLABLE_STRING}},
    "Output": {"type": "object", "required": ["id", "position", "asset_id", "kind"], "properties": {
        "id": {"type": "integer"}, "position": {"type": "integer"}, "step_id": NULLABLE_INT,
        "asset_id": {"type": "integer"}, "kind": {"type": "string"}, "width": NULLABLE_INT, "height": NULLABLE_INT,
        "thumbnail_url": NULLABLE_STRING, "poster_url": NULLABLE_STRING, "original_url": NULLABLE_STRING,
        "download_url": NULLABLE_STRING, "details_url": {"type": "string"}}},
    "PipelineDetail": {
        "type": "object", "required": ["id", "name", "status", "mode", "steps", "outputs", "outputs_pagination"],
        "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"}, "description": {"type": "string"},
            "status": {"type": "string"}, "mode": {"type": "string"}, "model": {"type": "string"},
            "cost": {"type": "string"}, "created_at": {"type": "string"}, "updated_at": {"type": "string"},
            "is_favorite": {"type": "boolean"}, "is_hidden": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "step_count": {"type": "integer"}, "output_count": {"type": "integer"},
            "progress": {"type": "object", "properties": {"done": {"type": "integer"}, "planned": {"type": "integer"}}},
            "steps": {"type": "array", "items": _ref("Step")}, "outputs": {"type": "array", "items": _ref("Output")},
            "outputs_pagination": _ref("Pagination"),
            "step_summary": {"type": "array", "items": {"type": "object", "properties": {
                "kind": {"type": "string"}, "total": {"type": "integer"}, "statuses": {"type": "object"}}}},
            "steps_pagination": _ref("Pagination"),
        },
    },
    "NewPipeline": {
        "type": "object", "required": ["sources"],
        "description": "The New pipeline page's fields (docs/api.md): `prompts`, a `template`, or both.",
        "properties": {
            "name": {"type": "string", "maxLength": 200}, "description": {"type": "string", "maxLength": 5000},
            "tags": {"oneOf": [{"type": "array", "items": {"type": "string"}, "maxItems": 20}, {"type": "string"}]},
            "sources": {"oneOf": [{"type": "array", "items": {"type": "integer"}, "maxItems": 200}, {"type": "string"}]},
            "prompts": {"oneOf": [{"type": "array", "items": {"type": "string", "maxLength": 2000}, "maxItems": 500},
                                  {"type": "string"}]},
            "template": {"type": "string", "maxLength": 5000, "description": "{a|b} alternatives and {list} names expand into more prompts."},
            "enhance_prompts": {"type": "boolean", "description": "Rewrite the prompts with the server's chat model first (PROMPT_LLM_URL)."},
            "mode": {"type": "string", "enum": ["auto", "checkpoint"]},
            "seed": {"type": ["integer", "null"], "minimum": 0, "maximum": SEED_MAX,
                     "description": "The pipeline's seed (absent or null: one drawn for it); a step's is this plus its variant."},
            "i2i_enabled": {"type": "boolean"}, "i2i_model": {"type": "string"},
            "images_per_prompt": {"type": "integer", "minimum": 1}, "aspect_ratio": {"type": "string"},
            "quality": {"type": "string"}, "i2i_negative_prompt": {"type": "string", "maxLength": 1000},
            "i2v_enabled": {"type": "boolean"}, "i2v_model": {"type": "string"},
            "videos_per_image": {"type": "integer", "minimum": 1, "maximum": 2}, "resolution": {"type": "string"},
            "duration": {"type": "integer", "minimum": 2, "maximum": 10},
            "i2v_negative_prompt": {"type": "string", "maxLength": 1000}, "confirm_cost": {"type": "boolean"},
        },
    },
    "Accepted": {"type": "object", "required": ["id", "status", "status_url"], "properties": {
        "id": {"type": "integer"}, "status": {"type": "string"}, "status_url": {"type": "string"}}},
    "Retried": {"type": "object", "required": ["id", "status", "status_url", "retried"], "properties": {
        "id": {"type": "integer"}, "status": {"type": "string"}, "status_url": {"type": "string"},
        "retried": {"type": "integer", "description": "How many steps were queued again."}}},
    "Resumed": {"type": "object", "required": ["id", "status", "status_url", "resumed"], "properties": {
        "id": {"type": "integer"}, "status": {"type": "string"}, "status_url": {"type": "string"},
        "resumed": {"type": "integer", "description": "How many cancelled steps run on (queued, or back under review)."}}},
    "Asset": {
        "type": "object", "required": ["id", "kind", "source", "processing_status", "created_at"],
        "properties": {
            "id": {"type": "integer"}, "kind": {"type": "string"}, "source": {"type": "string"},
            "filename": {"type": "string"}, "width": NULLABLE_INT, "height": NULLABLE_INT,
            "thumbnail_url": NULLABLE_STRING, "srcset": {"type": "string"}, "original_url": NULLABLE_STRING,
            "processing_status": {"type": "string"}, "created_at": {"type": "string"},
        },
    },
    "AssetDetails": {
        "type": "object", "required": ["id", "kind", "source", "parameters", "generation"],
        "description": "An Asset with its file's details, the generation parameters inside the file, and how it was made.",
        "properties": {
            "id": {"type": "integer"}, "kind": {"type": "string"}, "source": {"type": "string"},
            "filename": {"type": "string"}, "mime": {"type": "string"}, "bytes": {"type": "integer"},
            "width": NULLABLE_INT, "height": NULLABLE_INT, "prompt": {"type": "string"},
            "original_url": NULLABLE_STRING, "download_url": NULLABLE_STRING,
            "parameters": {"type": ["object", "null"], "properties": {
                "prompt": {"type": "string"}, "negative_prompt": {"type": "string"},
                "settings": {"type": "object", "additionalProperties": {"type": "string"}}, "raw": {"type": "string"}}},
            "generation": {"type": ["object", "null"], "properties": {
                "pipeline_id": {"type": "integer"}, "pipeline": {"type": "string"}, "output_id": {"type": "integer"},
                "model": {"type": "string"}, "prompt": {"type": "string"}, "cost": {"type": "string"},
                "download_url": {"type": "string"}}},
        },
    },
    "UploadResult": {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": {"type": "object", "required": ["file", "status"], "properties": {
            "file": {"type": "string"}, "status": {"type": "integer"}, "duplicate": {"type": "boolean"},
            "hidden": {"type": "boolean"}, "error": {"type": "object"}}}},
        "error": {"type": "object"}}},
    "ProcessingStatus": {
        "type": "object", "required": ["id", "kind", "processing_status", "renditions", "jobs"],
        "properties": {
            "id": {"type": "integer"}, "kind": {"type": "string"}, "processing_status": {"type": "string"},
            "thumbnail_status": {"type": "string"}, "variant_status": {"type": "string"},
            "attempts": {"type": "integer"}, "last_error": NULLABLE_STRING,
            "renditions": {"type": "object"}, "jobs": {"type": "array", "items": {"type": "object"}},
        },
    },
    "QueueStatus": {"type": "object", "required": ["queue_size", "processing_count", "failed_count"], "properties": {
        "queue_size": {"type": "integer"}, "processing_count": {"type": "integer"}, "failed_count": {"type": "integer"},
        "by_kind": {"type": "object"}, "by_queue": {"type": "object"}}},
    "Backfill": {"type": "object", "required": ["count", "mode"], "properties": {
        "count": {"type": "integer"}, "mode": {"type": "string"}, "kind": NULLABLE_STRING}},
}  # fmt: skip


def _list(item, description):
    return _json({"type": "object", "required": ["items", "pagination"], "properties": {
        "items": {"type": "array", "items": _ref(item)}, "pagination": _ref("Pagination")}}, description)  # fmt: skip


def description():
    """The whole OpenAPI document, as a dict."""
    paths = {
        "/api/pipelines": {
            "get": {"operationId": "listPipelines", "summary": "The caller's pipelines, newest first.",
                    "parameters": _pipeline_filters(), "responses": {"200": _list("PipelineSummary", "A page."), **ERRORS}},
            "post": {"operationId": "createPipeline", "summary": "Create a pipeline; workers run it.",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("NewPipeline")}}},
                     "responses": {"202": _json(_ref("Accepted"), "Accepted; it runs in the background."),
                                   "413": _error("The body is over the size limit."),
                                   "422": _error("A field is invalid (`field` names it)."), **ERRORS}},
        },
        "/api/pipelines/{id}": {
            "get": {"operationId": "getPipeline", "summary": "One pipeline, its steps and its first outputs.",
                    "parameters": [ID], "responses": {"200": _json(_ref("PipelineDetail"), "The pipeline."), **NOT_FOUND, **ERRORS}},
            "delete": {"operationId": "deletePipeline", "summary": "Delete a pipeline with its steps and outputs (the library keeps their images).",
                       "parameters": [ID], "responses": {"204": {"description": "Deleted."}, **NOT_FOUND, **ERRORS}},
        },
        "/api/pipelines/{id}/cancel": {"post": {
            "operationId": "cancelPipeline", "summary": "Cancel a pending, running or paused pipeline.",
            "parameters": [ID], "requestBody": ACTION_BODY,
            "responses": {"200": _json(_ref("PipelineDetail"), "Cancelled: the pipeline, as GET answers it."),
                          "409": _error("Nothing to cancel (`conflict`): it has ended."), **ACTION_ERRORS}}},
        "/api/pipelines/{id}/retry": {"post": {
            "operationId": "retryPipeline", "summary": "Run its failed and unknown steps again (each may be billed again).",
            "parameters": [ID], "requestBody": ACTION_BODY,
            "responses": {"202": _json(_ref("Retried"), "Queued again."),
                          "409": _error("Nothing to retry (`conflict`)."),
                          "422": _error("`confirmation_required` (send `confirm_cost`), or `refused`: a retry could only fail."),
                          **ACTION_ERRORS}}},
        "/api/pipelines/{id}/resume": {"post": {
            "operationId": "resumePipeline",
            "summary": "Run on the steps a cancel stopped, keeping what was done (each sent again may be billed again).",
            "parameters": [ID], "requestBody": ACTION_BODY,
            "responses": {"202": _json(_ref("Resumed"), "Resumed."),
                          "409": _error("Nothing to resume (`conflict`): not cancelled, no step stopped, or still being stopped at the provider."),
                          "422": _error("`confirmation_required` (send `confirm_cost`), or `refused`: a resume could only fail."),
                          **ACTION_ERRORS}}},
        "/api/pipelines/{id}/rerun": {"post": {
            "operationId": "rerunPipeline", "summary": "A new pipeline with the same settings.",
            "parameters": [ID], "requestBody": ACTION_BODY,
            "responses": {"202": _json(_ref("Accepted"), "The new pipeline, accepted; it runs in the background."),
                          "422": _error("`confirmation_required` (send `confirm_cost`), or `refused`: no settings, a source deleted, a provider without its key."),
                          **ACTION_ERRORS}}},
        "/api/pipelines/{id}/steps": {"get": {
            "operationId": "listPipelineSteps", "summary": "A pipeline's steps in order, one keyset page.",
            "parameters": [ID, _query("status", {"type": "string", "maxLength": 20},
                                      "A step status, `problems` (failed or outcome unknown), or empty for all."), *PAGE],
            "responses": {"200": _list("Step", "A page; its pagination carries `next_url`."), **NOT_FOUND, **ERRORS}}},
        "/api/pipelines/{id}/outputs": {"get": {
            "operationId": "listPipelineOutputs", "summary": "A pipeline's outputs in position order.",
            "parameters": [ID, *PAGE], "responses": {"200": _list("Output", "A page; its pagination carries `next_url`."), **NOT_FOUND, **ERRORS}}},
        "/api/library/images": {
            "get": {"operationId": "listAssets", "summary": "The caller's images and videos, newest first.",
                    "parameters": _library_filters(), "responses": {"200": _list("Asset", "A page."), **ERRORS}},
            "post": {"operationId": "uploadAssets", "summary": "Upload files (multipart, each part named `files`).",
                     "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                         "type": "object", "required": ["files"], "properties": {"files": {
                             "type": "array", "items": {"type": "string", "contentMediaType": "application/octet-stream"}}}}}}},
                     "responses": {**{code: _json(_ref("UploadResult"), text) for code, text in (
                         ("200", "Already in the library."), ("201", "Stored."), ("413", "Over a limit."),
                         ("415", "Not an accepted format."), ("422", "Empty or damaged."))},
                         "403": _error("A browser session without its CSRF token."), **ERRORS}},
        },
        "/api/images/{id}/processing-status": {"get": {
            "operationId": "getProcessingStatus", "summary": "An asset's background processing.",
            "parameters": [ID], "responses": {"200": _json(_ref("ProcessingStatus"), "Its status."), **NOT_FOUND, **ERRORS}}},
        "/api/images/{id}/retry-processing": {"post": {
            "operationId": "retryProcessing", "summary": "Queue an asset's failed or missing work again.",
            "parameters": [ID], "responses": {"202": _json(_ref("ProcessingStatus"), "Queued."),
                                              "409": _error("Already queued, or nothing to retry."), **NOT_FOUND, **ERRORS}}},
        "/api/images/{id}/details": {"get": {
            "operationId": "getAssetDetails", "summary": "One asset with the generation parameters inside its file.",
            "parameters": [ID], "responses": {"200": _json(_ref("AssetDetails"), "Its details."), **NOT_FOUND, **ERRORS}}},
        "/api/images/{id}": {"delete": {
            "operationId": "deleteAsset", "summary": "Delete one of your assets (its files are collected after).",
            "parameters": [ID], "responses": {"204": {"description": "Deleted."}, **NOT_FOUND, **ERRORS}}},
        "/api/images/delete": {"post": {
            "operationId": "deleteAssets", "summary": "Delete many of your assets; ids that aren't yours are listed.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["ids"], "properties": {
                    "ids": {"type": "array", "maxItems": 1000, "items": {"type": "integer", "minimum": 1}}}}}}},
            "responses": {"200": _json({"type": "object", "required": ["deleted", "not_found"], "properties": {
                "deleted": {"type": "array", "items": {"type": "integer"}},
                "not_found": {"type": "array", "items": {"type": "integer"}}}}, "What was deleted."),
                "422": _error("No ids, or not ids."), **ERRORS}}},
        "/api/admin/processing-queue": {"get": {
            "operationId": "getProcessingQueue", "summary": "The processing queue (staff).",
            "responses": {"200": _json(_ref("QueueStatus"), "The queue."), "403": _error("Not staff."), **ERRORS}}},
        "/api/library/generate-thumbnails": {"post": {
            "operationId": "generateThumbnails", "summary": "Start a backfill of renditions (staff).",
            "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {
                "mode": {"type": "string", "enum": ["missing", "all"]}, "kind": {"type": "string", "enum": ["", "image", "video"]},
                "batch": {"type": "integer", "minimum": 1, "maximum": 10000}}}}}},
            "responses": {"202": _json(_ref("Backfill"), "Started."), "403": _error("Not staff."),
                          "503": _error("The task queue is unavailable."), **ERRORS}}},
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {"title": "i2v JSON API", "version": "1", "description": "The same data as the pages, for scripts (docs/api.md)."},
        "servers": [{"url": "/"}],
        "security": [{"token": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer", "description": "A token from the Settings page."},
                "session": {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME},
            },
            "schemas": SCHEMAS,
        },
        "paths": paths,
    }


@csrf_exempt  # it changes nothing: a POST, logged in or not, is the 405 it is, not a CSRF or login refusal
@require_safe
def openapi_json(request):
    return json_response(description())
