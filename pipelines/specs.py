"""Pipeline specs: the YAML a pipeline is written in, read into `Pipeline` records.

Pure Python (no pyspark). The shape of a spec is checked here; what its fields mean
(contracts that exist, an allowed transform, a trigger Spark knows) is checked by
`Pipeline.clean`, the same validation the admin form runs.

    key: orders-landing
    title: Orders from the landing folder
    source: {format: json, path: var/landing/orders, options: {maxFilesPerTrigger: 2}}
    input_contract: shop.orders_raw          # id, id@^1, id@~1.2 or id@1.2.3
    output_contract: shop.orders
    rejects_contract: shop.orders_rejects    # optional
    transform: pipelines.transforms.orders   # optional
    run_type: observe
    trigger: {processingTime: 2 seconds}     # or {availableNow: true}
    default_seconds: 8                       # optional
"""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from contracts import odcs
from registry.pipelines import Pipeline

DEMO_DIR = Path(__file__).resolve().parent / "demo"
REQUIRED = ("key", "source", "input_contract", "output_contract")
OPTIONAL = ("title", "rejects_contract", "transform", "run_type", "trigger", "default_seconds")
SOURCE_KEYS = ("format", "path", "options")
# Where each model field is written in a spec, so that a refusal names what the author typed.
SPEC_NAMES = {"source_format": "source.format", "source_path": "source.path", "source_options": "source.options"}


class SpecInvalid(ValueError):
    """A spec that cannot become a pipeline; `problems` are "field: message" lines."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def read_specs(text):
    """The specs of a file: one spec, or a list of them under `pipelines:`."""
    try:
        document = odcs.load_text(text)
    except odcs.ContractInvalid as exc:
        raise SpecInvalid([p.message for p in exc.problems]) from None
    if set(document) == {"pipelines"}:
        specs = document["pipelines"]
        if not isinstance(specs, list) or not all(isinstance(spec, dict) for spec in specs):
            raise SpecInvalid(["pipelines: must be a list of pipeline specs"])
        return specs
    return [document]


def fields_of(spec):
    """The model fields a spec describes; refuses unknown or missing keys and a source that is not a mapping."""
    problems = [f"{key}: unknown key" for key in spec if key not in REQUIRED + OPTIONAL]
    problems += [f"{key}: is required" for key in REQUIRED if spec.get(key) in (None, "")]
    source = spec.get("source")
    if source is not None and not isinstance(source, dict):
        problems.append("source: must be a mapping with format, path and options")
        source = None
    source = source or {}
    problems += [f"source.{key}: unknown key" for key in source if key not in SOURCE_KEYS]
    if problems:
        raise SpecInvalid(problems)
    fields = {key: spec[key] for key in OPTIONAL if spec.get(key) is not None}
    fields.update(
        key=spec["key"],
        input_contract=spec["input_contract"],
        output_contract=spec["output_contract"],
        source_format=source.get("format") or "",
        source_path=source.get("path") or "",
        source_options=source.get("options") if source.get("options") is not None else {},
    )
    for name in ("key", "title", "input_contract", "output_contract", "rejects_contract", "transform", "source_path"):
        if name in fields and not isinstance(fields[name], str):
            problems.append(f"{SPEC_NAMES.get(name, name)}: must be a string")
    if problems:
        raise SpecInvalid(problems)
    return fields


def build(spec):
    """(pipeline, outcome): the pipeline the spec describes, validated and unsaved; outcome is created/updated/unchanged."""
    fields = fields_of(spec)
    pipeline = Pipeline.objects.filter(key=fields["key"]).first()
    if pipeline is None:
        pipeline, outcome = Pipeline(**fields), "created"
    else:
        # A field the spec leaves out goes back to its default: the file is the whole definition.
        defaults = {f.name: f.get_default() for f in Pipeline._meta.concrete_fields if f.name in OPTIONAL}
        values = {**defaults, **fields}
        changed = any(getattr(pipeline, name) != value for name, value in values.items())
        for name, value in values.items():
            setattr(pipeline, name, value)
        outcome = "updated" if changed else "unchanged"
    try:
        pipeline.full_clean()
    except ValidationError as exc:
        raise SpecInvalid(
            f"{SPEC_NAMES.get(field, field)}: {message}"
            for field, messages in exc.message_dict.items()
            for message in messages
        ) from None
    return pipeline, outcome


def load_files(paths):
    """Create or update the pipelines of these files, all or nothing: [(key, outcome)].

    Raises SpecInvalid naming the file of each problem; nothing is saved then.
    """
    results, problems, seen = [], [], {}
    with transaction.atomic():
        for path in paths:
            try:
                specs = read_specs(Path(path).read_text())
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{path}: cannot be read ({exc})")
                continue
            except SpecInvalid as exc:
                problems += [f"{path}: {problem}" for problem in exc.problems]
                continue
            for spec in specs:
                key = spec.get("key")
                if isinstance(key, str):
                    if key in seen:
                        problems.append(f"{path}: key: {key} is also defined in {seen[key]}")
                        continue
                    seen[key] = path
                try:
                    pipeline, outcome = build(spec)
                except SpecInvalid as exc:
                    problems += [f"{path}: {problem}" for problem in exc.problems]
                    continue
                if outcome != "unchanged":
                    pipeline.save()
                results.append((pipeline.key, outcome))
        if problems:
            raise SpecInvalid(problems)  # leaving the block by an exception rolls back what was saved
    return results


def demo_spec_files():
    return sorted(DEMO_DIR.glob("*.yaml"))


def load_demo_pipelines(pipeline_model):
    """Create the demo pipelines that are missing (used by a migration, so no validation); returns how many."""
    created = 0
    for path in demo_spec_files():
        for spec in read_specs(path.read_text()):
            fields = fields_of(spec)
            _, made = pipeline_model.objects.get_or_create(key=fields.pop("key"), defaults=fields)
            created += made
    return created
