from django.urls import path

from pipelines import views

urlpatterns = [
    path("", views.scenarios, name="scenarios"),
]
