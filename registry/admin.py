"""Registry records are evidence: the admin shows them and never changes them."""

from django.contrib import admin

from registry.models import Dataset, DatasetVersion, MicroBatch, Run, RunEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MicroBatchInline(ReadOnlyInline):
    model = MicroBatch
    fields = ["stream", "batch_id", "status", "row_count", "violations", "rejected_rows", "finished_at"]
    max_num = 0


class RunEventInline(ReadOnlyInline):
    model = RunEvent
    fields = ["seq", "kind", "payload", "created_at"]
    max_num = 0
    show_change_link = False


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "scenario", "run_type", "status", "started_by", "started_via", "finished_at"]
    list_filter = ["status", "scenario", "run_type", "started_via"]
    search_fields = ["id", "scenario", "reason", "started_by__username"]
    date_hierarchy = "started_at"
    list_select_related = ["started_by"]
    inlines = [MicroBatchInline, RunEventInline]


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
