from django.urls import path

from pipelines import views

urlpatterns = [
    path("", views.pipelines, name="pipelines"),
    # The old name of the page: links and LOGIN_REDIRECT_URL that say "scenarios" still land here.
    path("", views.pipelines, name="scenarios"),
    path("pipelines/<slug:key>/", views.pipeline_detail, name="pipeline-detail"),
    path("pipelines/<slug:key>/start/", views.start, name="pipeline-start"),
    path("scenarios/<slug:key>/run/", views.start, name="scenario-run"),
    path("runs/<uuid:run_id>/stop/", views.stop, name="run-stop"),
]
