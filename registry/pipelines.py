"""A pipeline, as data: a source, its contracts, an optional transform, a run type and a trigger.

No Spark here: the admin and the pages read and validate pipelines without starting a JVM.
A transform is checked by reading its module's source, never by importing it, so the admin
never runs code somebody typed.
"""

import ast
import importlib.util
import re
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from contracts.models import Contract, ContractVersion
from registry.models import RunType

KEY_PATTERN = r"^[a-z0-9-]+$"
PROCESSING_TIME = re.compile(r"^[1-9][0-9]* (milliseconds?|seconds?|minutes?)$")
DEFAULT_TRIGGER = {"processingTime": "2 seconds"}


class SourceFormat(models.TextChoices):
    RATE = "rate"
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"


def default_trigger():
    return dict(DEFAULT_TRIGGER)


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
    input_contract = models.CharField(max_length=200, help_text="A contract id, or id@version.")
    output_contract = models.CharField(max_length=200, help_text="A contract id, or id@version.")
    rejects_contract = models.CharField(
        max_length=200, blank=True, help_text="Optional: failing rows are routed to this contract's dataset."
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

    def contract_version(self, field):
        """The ContractVersion a contract field refers to (DoesNotExist says which is missing)."""
        contract_id, _, version = getattr(self, field).partition("@")
        return ContractVersion.objects.resolve(contract_id, version or None)

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
        contract_id = getattr(self, field).partition("@")[0]
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
