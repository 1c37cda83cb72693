from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
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
    old, new = request.GET.get("from"), request.GET.get("to")
    if old and new:
        # The page's compare form: the diff has an address of its own.
        return redirect("contract-diff", contract_id, old, new)
    versions = list(contract.versions.select_related("created_by", "forced").order_by("-sort_key"))
    for cv, before in zip(versions, versions[1:] + [None], strict=True):
        cv.before = before  # the version a "diff" link compares it with
    return render(
        request,
        "contracts/contract_detail.html",
        {
            "contract": contract,
            "versions": versions,
            "datasets": contract.datasets.all(),
            "choices": [cv.version for cv in versions],
            "old": versions[1] if len(versions) > 1 else (versions[0] if versions else None),
            "new": versions[0] if versions else None,
        },
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
def version_export(request, contract_id, version, fmt):
    cv = get_object_or_404(ContractVersion, contract__contract_id=contract_id, version=version)
    if fmt not in ContractVersion.EXPORT_FORMATS:
        raise Http404(f"no export format {fmt!r}")
    text, content_type, filename = cv.export(fmt)
    response = HttpResponse(text, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
