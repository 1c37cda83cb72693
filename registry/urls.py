from django.urls import path

from registry import views

urlpatterns = [
    path("runs/", views.run_list, name="run-list"),
    path("runs/<uuid:run_id>/", views.run_detail, name="run-detail"),
    path("datasets/", views.dataset_list, name="dataset-list"),
    path("datasets/<str:name>/", views.dataset_detail, name="dataset-detail"),
    # Under the contract's URL, served here: contracts/ knows nothing of the registry's results.
    path("contracts/<str:contract_id>/rules/<str:rule>/", views.rule_detail, name="rule-detail"),
]
