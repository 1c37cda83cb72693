"""The pipelines page, a pipeline's page, and the Start and Stop buttons (POSTs that need registry.start_run)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from contracts.checks import RunType
from pipelines.checkpoints import is_local, read_progress, waiting_files
from pipelines.runner import RunRefused, start_run, stop_run
from registry.access import can_start_runs
from registry.models import ACTIVE_STATUSES, Run, RunMode
from registry.pages import KeysetPage
from registry.pipelines import Pipeline, parse_contract_ref
from registry.views import RUNS_PER_PAGE, attach_batch_totals

FILES_SHOWN = 50  # the newest files done and the oldest waiting; a pipeline may have read thousands
NEEDS_PERMISSION = "Starting and stopping runs needs the 'Can start pipeline runs' permission."


@require_GET
def pipelines(request):
    cards = [card(pipeline) for pipeline in Pipeline.objects.all()]
    return render(request, "pipelines/pipelines.html", {"cards": cards, **controls_context(request)})


@require_GET
def pipeline_detail(request, key):
    pipeline = get_object_or_404(Pipeline, key=key)
    page = KeysetPage(runs_of(pipeline), "started_at", request.GET, RUNS_PER_PAGE)
    attach_batch_totals(page.items)
    return render(
        request,
        "pipelines/pipeline_detail.html",
        {**card(pipeline), "page": page, "runs": page.items, **progress_of(pipeline), **controls_context(request)},
    )


@require_POST
def start(request, key):
    pipeline = get_object_or_404(Pipeline, key=key)
    if not can_start_runs(request.user):
        raise PermissionDenied(NEEDS_PERMISSION)
    try:
        run = start_run(pipeline.key, **run_options(request.POST), user=request.user, via="user")
    except RunRefused as exc:  # the pipeline has an active run, or the site runs as many as it may
        context = {"pipeline": pipeline, "active": exc.active_run, "reason": exc}
        return render(request, "pipelines/refused.html", context, status=409)
    except ValueError as exc:
        messages.error(request, f"The run did not start: {exc}")
        return redirect("pipelines")
    return redirect(run)


@require_POST
def stop(request, run_id):
    run = get_object_or_404(Run, pk=run_id)
    if not can_start_runs(request.user):
        raise PermissionDenied(NEEDS_PERMISSION)
    if not run.is_active:
        return render(request, "pipelines/not_running.html", {"run": run}, status=409)
    stop_run(run, request.user.get_username())
    return redirect(run)


def runs_of(pipeline):
    # Run.scenario holds the pipeline key for every run, also those recorded before runs named their pipeline.
    return Run.objects.filter(scenario=pipeline.key).select_related("started_by")


def card(pipeline):
    last = runs_of(pipeline).first()
    active = last if last and last.is_active else runs_of(pipeline).filter(status__in=ACTIVE_STATUSES).first()
    return {
        "pipeline": pipeline,
        "last": last,
        "active": active,
        "contracts": contract_links(pipeline),
        "default_mode": default_mode(pipeline),
    }


def default_mode(pipeline):
    """What a run started without options does (as start_run decides): the form preselects it."""
    if pipeline.default_seconds:
        return RunMode.WINDOW
    if (pipeline.trigger or {}).get("availableNow"):
        return RunMode.AVAILABLE_NOW
    return RunMode.UNTIL_STOPPED


def contract_links(pipeline):
    """(role, contract id, exact version or "", range or "") of each contract the pipeline names."""
    roles = {"input_contract": "input", "output_contract": "output", "rejects_contract": "rejects"}
    links = []
    for field, role in roles.items():
        try:
            ref = parse_contract_ref(getattr(pipeline, field)) if getattr(pipeline, field) else None
        except ValueError:
            ref = None
        if ref is not None:
            version = "" if ref.is_range else ref.spec
            links.append(
                {"role": role, "id": ref.contract_id, "version": version, "range": ref.spec if ref.is_range else ""}
            )
    return links


def progress_of(pipeline):
    """What the pipeline's checkpoint has read, and the files still waiting in its landing folder."""
    if not pipeline.is_file_source:
        return {"progress": None, "waiting": None}
    location = checkpoint_of(pipeline)
    progress = read_progress(location)
    waiting = waiting_files(pipeline.source_location(), progress.seen_paths())
    return {
        "progress": progress,
        "checkpoint": location,
        "checkpoint_local": is_local(location),
        "files_done": progress.files[::-1][:FILES_SHOWN],
        "waiting": waiting if waiting is None else waiting[:FILES_SHOWN],
        "waiting_count": len(waiting or []),
    }


def checkpoint_of(pipeline):
    """The folder of the pipeline's checkpoint, or "" before its first checkpointed run."""
    return pipeline.checkpoint_location() if pipeline.checkpoint_epoch else ""


def controls_context(request):
    return {"can_start": can_start_runs(request.user), "run_types": RunType.values, "modes": RunMode.values}


def run_options(form):
    """The Start form's choices, only those it made: start_run takes the pipeline's defaults for the rest."""
    options = {"run_type": form.get("run_type") or None}
    mode = form.get("mode")
    if mode:
        options["mode"] = mode
    if mode in (None, "", RunMode.WINDOW):
        options["seconds"] = whole_number(form.get("seconds"))
    return options


def whole_number(text):
    """The form's seconds as an int; anything else goes through for start_run to refuse with its reason."""
    try:
        return int(text) if text else None
    except ValueError:
        return text
