from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from contracts import odcs
from contracts.models import Contract, ContractVersion

FORCE_PERMISSION = "contracts.force_version"


class ContractVersionForm(forms.ModelForm):
    """A version is edited as one ODCS document (YAML or JSON); the form validates it on save."""

    document_text = forms.CharField(
        label="ODCS document (YAML or JSON)",
        widget=forms.Textarea(
            attrs={"rows": 36, "cols": 110, "spellcheck": "false", "style": "font-family: monospace"}
        ),
        help_text="The `id` and `version` inside the document must match this version's contract and version.",
    )
    force = forms.BooleanField(
        required=False,
        label="Force past the semver check",
        help_text="Only for staff with the permission to force versions; a reason is required and recorded.",
    )
    force_reason = forms.CharField(
        required=False, label="Reason for forcing", widget=forms.Textarea(attrs={"rows": 2, "cols": 110})
    )
    user = None  # set by the admin for the request: who may force

    class Meta:
        model = ContractVersion
        fields = ["contract", "version", "status"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contract"].required = False
        self.fields["contract"].help_text = "Leave empty to use (or create) the contract named by the document's `id`."
        self.fields["version"].required = False
        self.fields["version"].help_text = "Leave empty to take the document's `version`."
        if self.instance.pk and not self.is_bound:
            self.initial["document_text"] = odcs.to_yaml(self.instance.document)
        if self.instance.pk and self.instance.status != ContractVersion.Status.DRAFT:
            self.fields["document_text"].help_text = (
                f"This version is {self.instance.status}: its document cannot change in place, only its status can. "
                "To change the document, edit it, give it a new version number (here and in the document) "
                "and use 'Save as new'."
            )
        self.parsed = None
        self.semver_forced = None

    def clean_document_text(self):
        try:
            self.parsed = odcs.parse(self.cleaned_data["document_text"])
        except odcs.ContractInvalid as exc:
            raise forms.ValidationError([f"Refused: {problem}" for problem in exc.problems]) from None
        return self.cleaned_data["document_text"]

    def clean(self):
        cleaned = super().clean()
        if self.parsed is not None:
            # Empty fields take their value from the document; the model checks that the others agree.
            if cleaned.get("contract") is None:
                cleaned["contract"] = Contract.objects.filter(contract_id=self.parsed.contract_id).first()
            if not cleaned.get("version"):
                cleaned["version"] = self.parsed.version
        return cleaned

    def _update_errors(self, errors):
        # The model speaks of `document`; on this form the document is the text area.
        if hasattr(errors, "error_dict") and "document" in errors.error_dict:
            errors.error_dict.setdefault("document_text", []).extend(errors.error_dict.pop("document"))
        super()._update_errors(errors)

    def _post_clean(self):
        # The model validates the document it will store, so hand it over before the model's own clean.
        if self.parsed is None:
            return  # the document was refused; its reasons are already on the form
        self.instance.document = self.parsed.document
        super()._post_clean()
        if self.instance.pk is None and not self.errors:
            self._check_semver()

    def _check_semver(self):
        """A new version must bump its number at least as much as its changes need; forcing is recorded."""
        refusal = self.instance.semver_refusal()
        if refusal is None:
            return
        if not self.cleaned_data.get("force"):
            self.add_error("version", [f"Refused: {line}" for line in refusal.lines()])
        elif self.user is None or not self.user.has_perm(FORCE_PERMISSION):
            self.add_error("force", "you may not force a version past the semver check (permission force_version)")
        elif not (self.cleaned_data.get("force_reason") or "").strip():
            self.add_error("force_reason", "a reason is required to force a version past the semver check")
        else:
            self.semver_forced = refusal


class ListedVersionForm(forms.ModelForm):
    def _post_clean(self):
        # The inline only lists versions; validating them against a contract being edited (say, renamed)
        # would raise errors for fields this form does not have. Versions are validated where they are edited.
        pass


class ContractVersionInline(admin.TabularInline):
    model = ContractVersion
    form = ListedVersionForm
    fields = ["version", "status", "api_version", "fingerprint", "created_by", "created_at", "diff_link"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="diff")
    def diff_link(self, obj):
        return version_diff_link(obj)


def version_diff_link(cv):
    """A link to what changed since the version before this one (or nothing for the first)."""
    before = cv.contract.versions.filter(sort_key__lt=cv.sort_key).order_by("-sort_key").first()
    if before is None:
        return "—"
    url = reverse("contract-diff", args=[cv.contract.contract_id, before.version, cv.version])
    return format_html('<a href="{}">diff from {}</a>', url, before.version)


@admin.register(Contract)
class ContractAdmin(admin.ModelAdmin):
    list_display = ["contract_id", "name", "created_at"]
    search_fields = ["contract_id", "name"]
    inlines = [ContractVersionInline]


@admin.register(ContractVersion)
class ContractVersionAdmin(admin.ModelAdmin):
    form = ContractVersionForm
    save_as = True
    list_display = [
        "contract",
        "version",
        "status",
        "api_version",
        "short_fingerprint",
        "lint_count",
        "forced_label",
        "created_by",
        "created_at",
        "diff_link",
    ]
    list_filter = ["status", "api_version", "contract"]
    search_fields = ["contract__contract_id", "version", "document"]
    readonly_fields = [
        "api_version",
        "fingerprint",
        "lint_warnings",
        "forced_label",
        "diff_link",
        "created_by",
        "created_at",
    ]
    list_select_related = ["contract", "created_by", "forced"]

    def get_fields(self, request, obj=None):
        fields = ["contract", "version", "status", "document_text", "force", "force_reason"]
        return fields + (self.readonly_fields if obj else [])

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.user = request.user
        return form

    @admin.display(description="forced")
    def forced_label(self, obj):
        forced = getattr(obj, "forced", None) if obj.pk else None
        if forced is None:
            return "—"
        return format_html(
            "forced by {} on {}: {} ({} bump where {} was needed)",
            forced.forced_by_label,
            forced.created_at.strftime("%Y-%m-%d %H:%M"),
            forced.reason,
            forced.made_bump,
            forced.required_bump,
        )

    @admin.display(description="diff")
    def diff_link(self, obj):
        return version_diff_link(obj) if obj.pk else "—"

    @admin.display(description="lint")
    def lint_count(self, obj):
        return len(obj.lint or [])

    @admin.display(description="Lint warnings")
    def lint_warnings(self, obj):
        if not obj.lint:
            return "none"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((w,) for w in obj.lint)))

    def has_delete_permission(self, request, obj=None):
        # Versions other than drafts may have governed data: they are evidence, so they stay.
        if obj is not None and obj.status != ContractVersion.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if obj.contract_id is None:
            obj.contract, _ = Contract.objects.get_or_create(
                contract_id=form.parsed.contract_id, defaults={"name": form.parsed.document.get("name", "")}
            )
        if not change or obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if form.semver_forced is not None:
            obj.record_forced(form.semver_forced, reason=form.cleaned_data["force_reason"].strip(), user=request.user)
            messages.warning(request, f"Forced past the semver check: {form.semver_forced}")
        for warning in obj.lint:
            messages.warning(request, f"Lint: {warning}")
