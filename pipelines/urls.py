from django.urls import path

from pipelines import views

urlpatterns = [
    path("", views.scenarios, name="scenarios"),
    path("scenarios/<slug:key>/run/", views.start, name="scenario-run"),
]
