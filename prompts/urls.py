from django.urls import path

from . import views

app_name = "prompts"

urlpatterns = [
    path("prompts/", views.prompts_page, name="page"),
    path("prompts/lists", views.save_list, name="add_list"),
    path("prompts/lists/<id:list_id>", views.save_list, name="edit_list"),
    path("prompts/lists/<id:list_id>/delete", views.delete_list, name="delete_list"),
    path("prompts/templates", views.save_template, name="add_template"),
    path("prompts/templates/<id:template_id>", views.save_template, name="edit_template"),
    path("prompts/templates/<id:template_id>/delete", views.delete_template, name="delete_template"),
]
