"""Registry records are evidence: the admin shows them and never changes them. Pipelines, definitions, are edited."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from registry.models import Dataset, DatasetVersion, MicroBatch, Run, RunEvent
from registry.pipelines import Pipeline


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


SHOWN_ON_A_RUN = 50


def newest_of(records, title, columns, changelist, run):
    """The newest records of a run as a small table, and a link to all of them: a run may have 10k batches."""
    rows = list(records[:SHOWN_ON_A_RUN])
    total = records.count() if len(rows) == SHOWN_ON_A_RUN else len(rows)
    link = reverse(changelist) + f"?run__id__exact={run.pk}"
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in columns(record))),) for record in rows),
    )
    return format_html(
        '<p>{} {} · <a href="{}">all of them</a></p><table><tbody>{}</tbody></table>',
        total,
        title,
        link,
        body,
    )


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "scenario", "run_type", "status", "started_by", "started_via", "finished_at"]
    list_filter = ["status", "scenario", "run_type", "started_via"]
    search_fields = ["id", "scenario", "reason", "started_by__username"]
    date_hierarchy = "started_at"
    list_select_related = ["started_by"]
    readonly_fields = ["newest_batches", "newest_events"]

    @admin.display(description="Micro-batches (newest first)")
    def newest_batches(self, run):
        def columns(b):
            url = reverse("admin:registry_microbatch_change", args=[b.pk])
            return [
                format_html('<a href="{}">batch {}</a>', url, b.batch_id),
                b.stream,
                b.status,
                f"{b.row_count} rows",
                f"{b.violations} failing",
                f"{b.rejected_rows} quarantined",
            ]

        return newest_of(
            run.batches.order_by("-batch_id"), "micro-batches", columns, "admin:registry_microbatch_changelist", run
        )

    @admin.display(description="Events (newest first)")
    def newest_events(self, run):
        def columns(e):
            return [f"#{e.seq}", e.kind, e.created_at.strftime("%Y-%m-%d %H:%M:%S")]

        return newest_of(run.events.order_by("-seq"), "events", columns, "admin:registry_runevent_changelist", run)


@admin.register(MicroBatch)
class MicroBatchAdmin(ReadOnlyAdmin):
    list_display = ["run", "stream", "batch_id", "status", "row_count", "violations", "rejected_rows", "finished_at"]
    list_filter = ["status", "stream", "run__scenario"]
    search_fields = ["run__id"]
    list_select_related = ["run"]


@admin.register(Dataset)
class DatasetAdmin(ReadOnlyAdmin):
    list_display = ["name", "contract", "created_at"]
    list_filter = ["contract"]
    search_fields = ["name", "contract__contract_id"]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    list_display = ["dataset", "version", "status", "row_count", "violations", "contract_version", "created_at"]
    list_filter = ["status", "dataset", "contract_version"]
    search_fields = ["version", "dataset__name", "path", "run__id"]
    list_select_related = ["dataset", "contract_version__contract"]


@admin.register(RunEvent)
class RunEventAdmin(ReadOnlyAdmin):
    list_display = ["run", "seq", "kind", "created_at"]
    list_filter = ["kind"]
    search_fields = ["run__id"]
    list_select_related = ["run"]


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    """A pipeline is a definition, not evidence: it is edited here, through the validation `load_pipelines` uses."""

    list_display = ["key", "title", "source", "contracts", "run_type", "updated_at"]
    list_filter = ["source_format", "run_type"]
    search_fields = ["key", "title", "input_contract", "output_contract", "rejects_contract"]
    readonly_fields = ["checkpoint_epoch", "progress_reset_at", "created_at", "updated_at"]
    actions = ["reset_progress"]
    fieldsets = [
        (None, {"fields": ["key", "title"]}),
        ("Source", {"fields": ["source_format", "source_path", "source_options"]}),
        ("Contracts", {"fields": ["input_contract", "output_contract", "rejects_contract"]}),
        ("Run", {"fields": ["transform", "run_type", "trigger", "default_seconds"]}),
        ("Progress", {"fields": ["checkpoint_epoch", "progress_reset_at"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.action(description="Reset progress (the next run reads the source from the beginning)")
    def reset_progress(self, request, queryset):
        for pipeline in queryset:
            try:
                epoch = pipeline.reset_progress(request.user)
            except ValueError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"{pipeline.key}: progress reset; new checkpoint epoch {epoch}")

    @admin.display(description="Source")
    def source(self, pipeline):
        return f"{pipeline.source_format} {pipeline.source_path}".strip()

    @admin.display(description="Contracts (input → output, rejects)")
    def contracts(self, pipeline):
        text = f"{pipeline.input_contract} → {pipeline.output_contract}"
        return f"{text}, {pipeline.rejects_contract}" if pipeline.rejects_contract else text


from registry import alert_admin  # noqa: E402, F401  (the alerts admin, a module of its own)
