from django.urls import path

from registry import views

urlpatterns = [
    path("runs/", views.run_list, name="run-list"),
    path("runs/<uuid:run_id>/", views.run_detail, name="run-detail"),
    path("runs/<uuid:run_id>/export/", views.run_export, name="run-export"),
    path("datasets/", views.dataset_list, name="dataset-list"),
    path("datasets/<str:name>/", views.dataset_detail, name="dataset-detail"),
    # Under /contracts/ because that is what it shows; here because it lists the pipelines a change moves.
    path(
        "contracts/<str:contract_id>/diff/<str:from_version>/<str:to_version>/",
        views.contract_diff,
        name="contract-diff",
    ),
]
