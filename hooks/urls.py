from django.urls import path

from . import views

app_name = "hooks"

urlpatterns = [
    path("settings/webhooks", views.webhooks_page, name="page"),
    path("settings/webhooks/add", views.add_endpoint, name="add"),
    path("settings/webhooks/<id:endpoint_id>/events", views.edit_events, name="events"),
    path("settings/webhooks/<id:endpoint_id>/delete", views.delete_endpoint, name="delete"),
    path("settings/webhooks/<id:endpoint_id>/toggle", views.toggle_endpoint, name="toggle"),
    path("settings/webhooks/deliveries/<id:delivery_id>/redeliver", views.redeliver, name="redeliver"),
]
