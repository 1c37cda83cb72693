from django.db.models import Count, Prefetch, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from contracts.models import Contract, ContractVersion
from contracts.schema import schema_rows


@require_GET
def contract_list(request):
    versions = ContractVersion.objects.order_by("-sort_key")
    contracts = Contract.objects.annotate(version_count=Count("versions", distinct=True)).prefetch_related(
        Prefetch("versions", queryset=versions), "datasets"
    )
    return render(request, "contracts/contract_list.html", {"contracts": contracts})


@require_GET
def contract_detail(request, contract_id):
    contract = get_object_or_404(Contract, contract_id=contract_id)
    versions = contract.versions.select_related("created_by").order_by("-sort_key")
    return render(
        request,
        "contracts/contract_detail.html",
        {"contract": contract, "versions": versions, "datasets": contract.datasets.all()},
    )


@require_GET
def version_detail(request, contract_id, version):
    cv = get_object_or_404(
        ContractVersion.objects.select_related("contract", "created_by"),
        contract__contract_id=contract_id,
        version=version,
    )
    datasets = cv.contract.datasets.annotate(
        checked=Count("versions", filter=Q(versions__contract_version=cv)), version_count=Count("versions")
    )
    return render(
        request,
        "contracts/version_detail.html",
        {"cv": cv, "objects": schema_rows(cv.document), "datasets": datasets},
    )


@require_GET
def version_yaml(request, contract_id, version):
    cv = get_object_or_404(ContractVersion, contract__contract_id=contract_id, version=version)
    response = HttpResponse(cv.as_yaml(), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{contract_id}-{version}.odcs.yaml"'
    return response
