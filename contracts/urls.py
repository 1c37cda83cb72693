from django.urls import path

from contracts import views

urlpatterns = [
    path("", views.contract_list, name="contract-list"),
    path("<str:contract_id>/", views.contract_detail, name="contract-detail"),
    path("<str:contract_id>/<str:version>/", views.version_detail, name="contract-version"),
    path("<str:contract_id>/<str:version>/odcs.<str:fmt>", views.version_export, name="contract-version-export"),
]
