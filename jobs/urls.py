from django.urls import path

from . import api, api_actions, views, webhooks

app_name = "jobs"

urlpatterns = [
    path("jobs/", views.jobs_page, name="page"),
    path("jobs/bulk", views.bulk, name="bulk"),
    path("jobs/watch", views.watch, name="watch"),
    path("jobs/newer", views.newer, name="newer"),
    path("jobs/<id:pipeline_id>/", views.pipeline_detail, name="detail"),
    path("jobs/<id:pipeline_id>/outputs", views.pipeline_outputs, name="outputs"),
    path("jobs/<id:pipeline_id>/steps", views.pipeline_steps, name="steps"),
    path("jobs/<id:pipeline_id>/menu", views.row_menu, name="menu"),
    path("jobs/<id:pipeline_id>/row", views.pipeline_row, name="row"),
    path("jobs/<id:pipeline_id>/favorite", views.toggle_favorite, name="favorite"),
    path("jobs/<id:pipeline_id>/hide", views.toggle_hidden, name="hide"),
    path("jobs/<id:pipeline_id>/rename", views.rename, name="rename"),
    path("jobs/<id:pipeline_id>/delete", views.delete, name="delete"),
    path("jobs/<id:pipeline_id>/tags", views.tags, name="tags"),
    path("jobs/<id:pipeline_id>/tags/<id:tag_id>/remove", views.remove_tag, name="remove_tag"),
    path("jobs/<id:pipeline_id>/cancel", views.cancel, name="cancel"),
    path("jobs/<id:pipeline_id>/retry", views.retry, name="retry"),
    path("jobs/<id:pipeline_id>/resume", views.resume, name="resume"),
    path("jobs/<id:pipeline_id>/approve", views.approve, name="approve"),
    path("jobs/<id:pipeline_id>/rerun", views.rerun, name="rerun"),
    path("pipelines/new", views.new_pipeline, name="new"),
    path("pipelines/new/estimate", views.estimate, name="estimate"),
    path("api/pipelines", api.pipelines, name="api_list"),
    path("api/pipelines/<id:pipeline_id>", api.pipeline, name="api_detail"),
    path("api/pipelines/<id:pipeline_id>/outputs", api.pipeline_outputs, name="api_outputs"),
    path("api/pipelines/<id:pipeline_id>/steps", api.pipeline_steps, name="api_steps"),
    path("api/pipelines/<id:pipeline_id>/cancel", api_actions.cancel, name="api_cancel"),
    path("api/pipelines/<id:pipeline_id>/retry", api_actions.retry, name="api_retry"),
    path("api/pipelines/<id:pipeline_id>/rerun", api_actions.rerun, name="api_rerun"),
    path("api/pipelines/<id:pipeline_id>/resume", api_actions.resume, name="api_resume"),
    path("hooks/<str:provider>/<str:token>", webhooks.provider_webhook, name="webhook"),
]
