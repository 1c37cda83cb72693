"""A pipeline, as data: a source, its contracts, an optional transform, a run type and a trigger.

No Spark here: the admin and the pages read and validate pipelines without starting a JVM.
A transform is checked by reading its module's source, never by importing it, so the admin
never runs code somebody typed.
"""

import ast
import importlib.util
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from contracts.models import Contract, ContractVersion
from contracts.semver import NotSemver, Semver
from registry.models import RunType

KEY_PATTERN = r"^[a-z0-9-]+$"
PROCESSING_TIME = re.compile(r"^[1-9][0-9]* (milliseconds?|seconds?|minutes?)$")
DEFAULT_TRIGGER = {"processingTime": "2 seconds"}
EPOCH_FORMAT = "%Y%m%dT%H%M%SZ"


class SourceFormat(models.TextChoices):
    RATE = "rate"
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"


def default_trigger():
    return dict(DEFAULT_TRIGGER)


def epoch_stamp(moment=None):
    return (moment or timezone.now()).astimezone(UTC).strftime(EPOCH_FORMAT)


class Pipeline(models.Model):
    key = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(KEY_PATTERN, "use lower-case letters, digits and '-' only")],
        help_text="The URL and command-line name, e.g. orders-landing.",
    )
    title = models.CharField(max_length=200, blank=True)
    source_format = models.CharField(
        max_length=16,
        choices=SourceFormat.choices,
        error_messages={"invalid_choice": "%(value)r is not a source format; use rate, json, csv or parquet"},
    )
    source_path = models.CharField(
        max_length=1000, blank=True, help_text="The folder watched for new files (any Hadoop path); empty for rate."
    )
    source_options = models.JSONField(default=dict, blank=True, help_text="Spark reader options, e.g. {}.")
    input_contract = models.CharField(
        max_length=200, help_text="A contract id, with an optional range: id, id@^1, id@~1.2 or id@1.2.3."
    )
    output_contract = models.CharField(
        max_length=200, help_text="A contract id, with an optional range: id, id@^1, id@~1.2 or id@1.2.3."
    )
    rejects_contract = models.CharField(
        max_length=200,
        blank=True,
        help_text="Optional: failing rows are routed to this contract's dataset (id, with an optional range).",
    )
    transform = models.CharField(
        max_length=200, blank=True, help_text="Optional dotted path to f(df) -> df inside DC43_TRANSFORM_MODULES."
    )
    run_type = models.CharField(
        max_length=16,
        choices=RunType.choices,
        default=RunType.OBSERVE,
        error_messages={"invalid_choice": "%(value)r is not a run type; use observe or enforce"},
    )
    trigger = models.JSONField(
        default=default_trigger, help_text='{"processingTime": "2 seconds"} or {"availableNow": true}.'
    )
    default_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Window of a run started without options (the demo scenarios).",
    )
    checkpoint_epoch = models.CharField(
        max_length=32,
        blank=True,
        editable=False,
        help_text="Names the checkpoint runs resume from; a new one starts from the beginning.",
    )
    progress_reset_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    CONTRACT_FIELDS = ("input_contract", "output_contract", "rejects_contract")

    class Meta:
        ordering = ["key"]

    def __str__(self):
        return self.key

    @property
    def is_file_source(self):
        return self.source_format != SourceFormat.RATE

    def source_location(self):
        """Where the source files are: a relative path is relative to the checkout (var/landing/...)."""
        if not self.source_path or "://" in self.source_path or Path(self.source_path).is_absolute():
            return self.source_path
        return str(Path(settings.BASE_DIR) / self.source_path)

    def checkpoint_location(self):
        """Where Spark keeps this pipeline's progress: one folder per epoch, so a reset leaves the old one as it was."""
        root = str(settings.DC43_CHECKPOINT_ROOT).rstrip("/")
        return f"{root}/pipelines/{self.key}/{self.checkpoint_epoch}"

    def ensure_epoch(self):
        """Give the pipeline its first epoch, once (two processes agree on whichever was saved first)."""
        if not self.checkpoint_epoch:
            Pipeline.objects.filter(pk=self.pk, checkpoint_epoch="").update(checkpoint_epoch=epoch_stamp())
            self.refresh_from_db(fields=["checkpoint_epoch"])
        return self.checkpoint_epoch

    def slice_key(self):
        """The identity of a batch's slice across the runs that share this checkpoint (see MicroBatch.slice_key)."""
        return f"{self.key}@{self.checkpoint_epoch}"

    def active_run(self):
        return self.runs.filter(status__in=["queued", "running"]).first()

    def reset_progress(self, user=None):
        """Start a new epoch: the next run reads the source from the beginning. The old checkpoint stays
        where it is, as the archive of what was read. Refused while a run uses it; logged for the admin."""
        from django.contrib.admin.models import CHANGE, LogEntry

        active = self.active_run()
        if active is not None:
            raise ValueError(f"pipeline {self.key} has an active run ({active.get_absolute_url()}); stop it first")
        previous = self.checkpoint_epoch
        # A stamp per second: a second reset within the same second still gets an epoch of its own.
        stamp = epoch_stamp()
        if previous and stamp <= previous:
            stamp = epoch_stamp(datetime.strptime(previous, EPOCH_FORMAT).replace(tzinfo=UTC) + timedelta(seconds=1))
        self.checkpoint_epoch, self.progress_reset_at = stamp, timezone.now()
        self.save(update_fields=["checkpoint_epoch", "progress_reset_at", "updated_at"])
        if user is not None and user.pk:
            message = f"Reset progress: new checkpoint epoch {stamp}" + (f" (was {previous})" if previous else "")
            LogEntry.objects.log_actions(user.pk, [self], CHANGE, change_message=message, single_object=True)
        return stamp

    def contract_version(self, field):
        """The ContractVersion a contract field refers to now (DoesNotExist says which is missing)."""
        return parse_contract_ref(getattr(self, field)).resolve()

    def resolve_contracts(self):
        """{field: ContractVersion or None}: what a run starting now is checked against, resolved once."""
        return {field: self.contract_version(field) if getattr(self, field) else None for field in self.CONTRACT_FIELDS}

    def contract_refs(self):
        """{field: ContractRef} for the contract fields that are set."""
        return {
            field: parse_contract_ref(getattr(self, field)) for field in self.CONTRACT_FIELDS if getattr(self, field)
        }

    def clean(self):
        problems = {}
        for field in self.CONTRACT_FIELDS:
            if getattr(self, field):
                problems[field] = self._contract_problem(field)
        problems["source_path"] = self._source_path_problem()
        problems["source_options"] = options_problem(self.source_options)
        problems["transform"] = transform_problem(self.transform) if self.transform else None
        problems["trigger"] = trigger_problem(self.trigger)
        problems = {field: message for field, message in problems.items() if message}
        if problems:
            raise ValidationError(problems)

    def _contract_problem(self, field):
        try:
            contract_id = parse_contract_ref(getattr(self, field)).contract_id
        except ValueError as exc:
            return str(exc)
        if not Contract.objects.filter(contract_id=contract_id).exists():
            return f"no contract {contract_id}"
        try:
            self.contract_version(field)
        except ContractVersion.DoesNotExist as exc:
            return str(exc)
        return None

    def _source_path_problem(self):
        if self.source_format == SourceFormat.RATE and self.source_path:
            return "the rate source reads no files; leave the path empty"
        if self.source_format in (SourceFormat.JSON, SourceFormat.CSV, SourceFormat.PARQUET) and not self.source_path:
            return f"a {self.source_format} source needs the path of the folder it watches"
        return None


@dataclass(frozen=True)
class ContractRef:
    """How a pipeline names a contract: an id and an optional version range.

    `id` alone is the newest active version (else the newest, as before ranges); `id@1.2.3` is exactly that
    version; `id@^1` any active 1.x.y; `id@~1.2` any active 1.2.z. Below 1.0.0 the minor number is the
    breaking one (contracts/semver.py): `^0.2` is 0.2.z only. A range never picks a pre-release.
    """

    contract_id: str
    spec: str = ""
    low: Semver | None = None
    high: Semver | None = None  # exclusive

    def __str__(self):
        return f"{self.contract_id}@{self.spec}" if self.spec else self.contract_id

    @property
    def is_range(self):
        return self.low is not None

    def admits(self, version):
        """Whether a version number is one this reference may resolve to."""
        if not self.spec:
            return True
        if not self.is_range:
            return str(version) == self.spec
        try:
            number = Semver.parse(version)
        except NotSemver:
            return False
        return number.release[0] == 1 and self.low <= number < self.high

    def resolve(self):
        """The ContractVersion this reference names now: the newest active version in range for a range."""
        if not self.is_range:
            return ContractVersion.objects.resolve(self.contract_id, self.spec or None)
        active = ContractVersion.objects.filter(
            contract__contract_id=self.contract_id, status=ContractVersion.Status.ACTIVE
        ).select_related("contract")
        found = max(
            (cv for cv in active if self.admits(cv.version)), key=lambda cv: Semver.parse(cv.version), default=None
        )
        if found is None:
            raise ContractVersion.DoesNotExist(
                f"contract {self.contract_id!r} has no active version in range {self.spec}"
            )
        return found


def pipelines_picking_up(contract_id, new):
    """For a change to ContractVersion `new`: each pipeline naming the contract, what it uses now, and whether
    its reference would move to `new` once `new` is active (a range never crosses a major version)."""
    rows = []
    for pipeline in Pipeline.objects.order_by("key"):
        for field, ref in _refs(pipeline):
            if ref.contract_id != contract_id:
                continue
            try:
                current = ref.resolve()
            except ContractVersion.DoesNotExist:
                current = None
            newer = current is None or new.sort_key >= current.sort_key
            rows.append(
                {
                    "pipeline": pipeline,
                    "role": field.removesuffix("_contract"),
                    "ref": str(ref),
                    "current": current,
                    "picks_up": ref.admits(new.version) and newer,
                }
            )
    return rows


def _refs(pipeline):
    try:
        return pipeline.contract_refs().items()
    except ValueError:
        return []


def parse_contract_ref(text):
    """A ContractRef from `id`, `id@1.2.3`, `id@^1`, `id@^1.2`, `id@~1.2`...; ValueError says what is wrong."""
    contract_id, at, spec = str(text).strip().partition("@")
    if not contract_id:
        raise ValueError(f"{text!r} names no contract; write id, id@^1, id@~1.2 or id@1.2.3")
    if at and not spec:
        raise ValueError(f"{text!r}: give a version or a range after '@' (^1, ~1.2, 1.2.3), or drop the '@'")
    if not spec or spec[0] not in "^~":
        return ContractRef(contract_id, spec)
    match = RANGE.match(spec[1:])
    if not match:
        raise ValueError(f"{text!r}: {spec!r} is not a range; write ^1, ^1.2, ^1.2.3, ~1.2 or ~1.2.3")
    major, minor, patch = (int(n) if n is not None else None for n in match.groups())
    low = Semver(major, minor or 0, patch or 0)
    if spec[0] == "~" and minor is not None:
        high = Semver(major, minor + 1, 0)
    elif major == 0 and minor is not None:
        high = Semver(0, minor + 1, 0)  # ^0.2: the minor number is the breaking one below 1.0.0
    else:
        high = Semver(major + 1, 0, 0)
    # Pre-releases of the upper bound sort below it; a range admits releases only (see admits).
    return ContractRef(contract_id, spec, low, high)


RANGE = re.compile(r"^(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?)?$")


def options_problem(options):
    if not isinstance(options, dict):
        return "must be a mapping of option names to values"
    for name, value in options.items():
        if not isinstance(value, (str, int, float, bool)) or value is None:
            return f"{name}: must be a string, a number or a boolean"
    return None


def trigger_problem(trigger):
    if not isinstance(trigger, dict) or len(trigger) != 1:
        return 'give exactly one of {processingTime: "N seconds"} or {availableNow: true}'
    ((kind, value),) = trigger.items()
    if kind == "processingTime":
        if not isinstance(value, str) or not PROCESSING_TIME.match(value):
            return f"processingTime must read 'N seconds', 'N milliseconds' or 'N minutes', got {value!r}"
        return None
    if kind == "availableNow":
        return None if value is True else "availableNow can only be true"
    return f"unknown trigger {kind!r}; use processingTime or availableNow"


def transform_problem(dotted):
    """Refuse a transform outside the allowed modules, or one its module does not define (read, not imported)."""
    allowed = list(settings.DC43_TRANSFORM_MODULES)
    module_name, _, name = str(dotted).rpartition(".")
    if module_name not in allowed:
        return f"{dotted!r} is outside the allowed modules ({', '.join(allowed) or 'none'})"
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return f"module {module_name} cannot be found"
    tree = ast.parse(Path(spec.origin).read_text(), filename=spec.origin)
    if not any(isinstance(node, ast.FunctionDef) and node.name == name for node in tree.body):
        return f"module {module_name} defines no function {name}"
    return None
