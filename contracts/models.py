import json
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from contracts import odcs
from contracts.diff import diff_documents
from contracts.identifiers import validate_identifier
from contracts.rules import compile_contract, rule_keys
from contracts.semver import NotSemver, bump_between, bump_rank


def version_sort_key(version):
    """A string that sorts semantic versions correctly (1.10.0 after 1.9.0; releases after pre-releases)."""
    match = re.match(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?", str(version))
    if not match:
        return f"~{version}"
    major, minor, patch, pre = match.groups()
    numbers = ".".join(f"{int(n or 0):08d}" for n in (major, minor, patch))
    # "~" sorts after every pre-release tag, so 1.0.0 comes after 1.0.0-rc1.
    return f"{numbers}.{pre if pre else '~'}"


def derived_fields(version, document):
    """The fields a version row derives from its number and document (raises odcs.ContractInvalid).

    `save()` sets them; the demo loader, which runs in a migration on historical models whose
    `save()` is Django's own, passes them in."""
    # Validated first: a hostile document must not reach the fingerprint's json.dumps.
    lint = odcs.validate(document).lint
    return {
        "sort_key": version_sort_key(version),
        "fingerprint": odcs.fingerprint(document),
        "api_version": odcs.normalise_api_version(document.get("apiVersion", "")),
        "lint": lint,
    }


class Contract(models.Model):
    contract_id = models.CharField(
        "ODCS id",
        max_length=200,
        unique=True,
        validators=[validate_identifier],
        help_text="The `id` of the ODCS document, e.g. demo.streaming.events.",
    )
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["contract_id"]

    def __str__(self):
        return self.contract_id

    def save(self, *args, **kwargs):
        problem = self._rename_problem()
        if problem:
            raise ValidationError({"contract_id": problem})
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("contract-detail", args=[self.contract_id])

    def clean(self):
        problem = self._rename_problem()
        if problem:
            raise ValidationError({"contract_id": problem})

    def _rename_problem(self):
        """Its versions' documents carry the id, and data was checked under it: the id stays."""
        if self.pk is None:
            return None
        stored = Contract.objects.filter(pk=self.pk).values_list("contract_id", flat=True).first()
        if stored is None or stored == self.contract_id or not self.versions.exists():
            return None
        return f"this contract has versions under the id {stored!r}, so it cannot be renamed; import a new contract instead"


class ContractVersionQuerySet(models.QuerySet):
    def resolve(self, contract_id, version=None):
        """The named version of a contract, or its newest active one (else its newest)."""
        versions = self.filter(contract__contract_id=contract_id).select_related("contract")
        if version:
            found = versions.filter(version=version).first()
            if found is None:
                known = ", ".join(versions.values_list("version", flat=True)) or "none"
                raise ContractVersion.DoesNotExist(
                    f"contract {contract_id!r} has no version {version!r} (known versions: {known})"
                )
            return found
        found = (
            versions.filter(status=ContractVersion.Status.ACTIVE).order_by("-sort_key").first()
            or versions.order_by("-sort_key").first()
        )
        if found is None:
            raise ContractVersion.DoesNotExist(f"no contract with id {contract_id!r}")
        return found


class ContractVersion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"
        DEPRECATED = "deprecated"
        RETIRED = "retired"

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(
        max_length=64,
        validators=[validate_identifier],
        help_text="Semantic version; must equal `version` in the document.",
    )
    sort_key = models.CharField(max_length=120, editable=False, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    api_version = models.CharField("ODCS apiVersion", max_length=16, editable=False)
    document = models.JSONField(help_text="The full ODCS document.")
    fingerprint = models.CharField("sha256", max_length=64, editable=False)
    lint = models.JSONField(default=list, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ContractVersionQuerySet.as_manager()

    class Meta:
        ordering = ["contract__contract_id", "-sort_key"]
        constraints = [models.UniqueConstraint(fields=["contract", "version"], name="unique_contract_version")]
        permissions = [("force_version", "Can force a new contract version past the semver check, with a reason")]

    def __str__(self):
        return f"{self.contract.contract_id} {self.version}"

    def save(self, *args, **kwargs):
        try:
            derived = derived_fields(self.version, self.document)  # validates the document first
        except odcs.ContractInvalid as exc:
            raise ValidationError([str(p) for p in exc.problems]) from None
        frozen = self._frozen_problems()
        if frozen:
            raise ValidationError(frozen)
        if self.contract_id is None and ContractVersion.contract.is_cached(self) and self.contract._state.adding:
            self.contract.save()
        for name, value in derived.items():
            setattr(self, name, value)
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("contract-version", args=[self.contract.contract_id, self.version])

    @property
    def short_fingerprint(self):
        return self.fingerprint[:12]

    @property
    def schema_objects(self):
        return self.document.get("schema") or []

    @classmethod
    def from_text(cls, text, *, status=Status.DRAFT, user=None):
        """Parse an ODCS document and build (unsaved) the version it describes."""
        parsed = odcs.parse(text)
        # A new contract is only created when its first version is saved.
        contract = Contract.objects.filter(contract_id=parsed.contract_id).first() or Contract(
            contract_id=parsed.contract_id, name=parsed.document.get("name", "")
        )
        return cls(contract=contract, version=parsed.version, status=status, document=parsed.document, created_by=user)

    def clean(self):
        doc = self.document if isinstance(self.document, dict) else {}
        try:
            parsed = odcs.validate(doc)
        except odcs.ContractInvalid as exc:
            raise ValidationError({"document": [str(p) for p in exc.problems]}) from None
        errors = {}
        if self.contract_id and parsed.contract_id != self.contract.contract_id:
            errors["document"] = (
                f"the document's id {parsed.contract_id!r} does not match the contract {self.contract.contract_id!r}"
            )
        if str(parsed.version) != str(self.version):
            errors["version"] = f"the document says version {parsed.version!r}, the version field says {self.version!r}"
        errors.update(self._frozen_problems())
        if errors:
            raise ValidationError(errors)

    # A status only moves forward: data checked under a version must stay explainable by it.
    STATUS_ORDER = (Status.DRAFT, Status.ACTIVE, Status.DEPRECATED, Status.RETIRED)

    def _frozen_problems(self):
        """Only an unused draft changes in place: data may have been checked against any other version."""
        if self.pk is None:
            return {}
        stored = ContractVersion.objects.filter(pk=self.pk).values_list("status", "fingerprint").first()
        if stored is None:
            return {}
        status, fingerprint = stored
        problems = {}
        if self.STATUS_ORDER.index(self.status) < self.STATUS_ORDER.index(status):
            problems["status"] = (
                f"this version is {status} and cannot go back to {self.status}; make a new version instead"
            )
        frozen = status != self.Status.DRAFT or self.has_been_used()
        if frozen and fingerprint != odcs.fingerprint(self.document):
            why = status if status != self.Status.DRAFT else "a draft that runs have already used"
            problems["document"] = (
                f"this version is {why}, so its document cannot change in place; "
                "give it a new version number and use 'Save as new'"
            )
        return problems

    def previous_active(self):
        """The version a new one is judged against: the newest active version numbered below it."""
        if self.contract_id is None:
            return None
        return (
            ContractVersion.objects.filter(contract_id=self.contract_id, status=self.Status.ACTIVE)
            .exclude(pk=self.pk)
            .filter(sort_key__lt=version_sort_key(self.version))
            .order_by("-sort_key")
            .first()
        )

    def semver_refusal(self):
        """Why this new version's number is too small a bump for what changed, or None when it is big enough.

        Consumers pick versions up by range (^1, ~1.2): a breaking change shipped as a minor or patch
        release would reach them unasked. See docs/contracts.md.
        """
        previous = self.previous_active()
        if previous is None:
            return None
        diff = diff_documents(previous.document, self.document)
        try:
            made = bump_between(previous.version, self.version)
        except NotSemver as exc:
            return SemverRefusal(previous, diff, "none", f"{exc}; a version after an active one must be semantic")
        if bump_rank(made) >= bump_rank(diff.required_bump):
            return None
        return SemverRefusal(previous, diff, made)

    def record_forced(self, refusal, *, reason, user=None, via="admin"):
        """Keep the evidence that this version went past a semver refusal, by whom and why."""
        from django.contrib.admin.models import ADDITION, LogEntry

        forced = ForcedVersion.objects.create(
            version=self,
            previous=refusal.previous.version,
            required_bump=refusal.diff.required_bump,
            made_bump=refusal.made,
            breaking=[c.as_dict() for c in refusal.diff.breaking],
            reason=reason,
            forced_by=user if getattr(user, "pk", None) else None,
            via=via,
        )
        if getattr(user, "pk", None):
            message = f"Forced past the semver check ({refusal.summary}): {reason}"
            LogEntry.objects.log_actions(user.pk, [self], ADDITION, change_message=message, single_object=True)
        return forced

    def has_been_used(self):
        """A run or a dataset version points at this version (the registry's reverse relations)."""
        return self.runs.exists() or self.input_runs.exists() or self.dataset_versions.exists()

    def as_yaml(self):
        return odcs.to_yaml(self.document)

    EXPORT_FORMATS = {"yaml": "application/yaml", "json": "application/json"}

    def export(self, fmt="yaml"):
        """The stored document as text that imports back to the same fingerprint: (text, content type, filename)."""
        if fmt not in self.EXPORT_FORMATS:
            raise ValueError(f"unknown export format {fmt!r}; use yaml or json")
        text = self.as_yaml() if fmt == "yaml" else json.dumps(self.document, indent=2, ensure_ascii=False) + "\n"
        filename = f"{self.contract.contract_id}-{self.version}.odcs.{fmt}"
        return text, f"{self.EXPORT_FORMATS[fmt]}; charset=utf-8", filename

    def diff_from(self, older):
        """What changed from `older` (another version of the same contract) to this one."""
        return diff_documents(older.document, self.document)

    def rule_keys(self):
        """{rule name: the rule's key across versions} (`contracts.rules.rule_key`), for the audit's rule questions."""
        compiled = compile_contract(self.document)
        return dict(zip([rule.name for rule in compiled.rules], rule_keys(compiled.rules), strict=True))


class SemverRefusal:
    """A new version numbered too low for its changes: what it was compared with, and what broke."""

    def __init__(self, previous, diff, made, problem=""):
        self.previous, self.diff, self.made, self.problem = previous, diff, made, problem

    @property
    def summary(self):
        if self.problem:
            return self.problem
        return (
            f"{self.previous.version} -> {self.diff.new} is a {self.made} bump; "
            f"the changes since active version {self.previous.version} need {self.diff.required_bump}"
        )

    def lines(self):
        """The refusal and each change that forces the bump (the breaking ones, else the non-breaking)."""
        needed = {"major": "breaking", "minor": "non-breaking", "patch": "info"}.get(self.diff.required_bump)
        worst = [c for c in self.diff.changes if c.cls == needed]
        return [self.summary] + [f"{c.cls}: {c.path}: {c.change}" for c in worst]

    def __str__(self):
        return "; ".join(self.lines())


class ForcedVersion(models.Model):
    """A version saved past a semver refusal: who forced it, why, and what it broke."""

    version = models.OneToOneField(ContractVersion, on_delete=models.CASCADE, related_name="forced")
    previous = models.CharField(max_length=64, help_text="The active version it was compared with.")
    required_bump = models.CharField(max_length=8)
    made_bump = models.CharField(max_length=8)
    breaking = models.JSONField(default=list, blank=True)
    reason = models.TextField()
    forced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=16, default="admin", help_text="admin or command")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.version} forced ({self.made_bump} where {self.required_bump} was needed)"

    @property
    def forced_by_label(self):
        return self.forced_by.get_username() if self.forced_by_id else f"the operator ({self.via})"
