"""The JSON Schema an emitted OpenLineage event must satisfy, derived from the official client's model.

The `openlineage-python` wheel ships no JSON Schema files: it ships the spec as code, the attrs
classes of `openlineage.client.generated`, which the OpenLineage project generates from its JSON
Schemas (each class names its schema in `_get_schema()`). This module turns those classes back
into JSON Schema: a property per field, its type, the fields without a default as required, plus
the spec's base requirements that the classes express as defaults (`_producer` and `_schemaURL`
on every facet; `eventTime`, `producer` and `schemaURL` on an event). Each facet is checked under
the key the spec gives it and on the side it belongs to (dataQualityAssertions only among input
facets), and its `_schemaURL` must be the one of the client's class: the facet version we claim.
Our own `dc43` run facet is checked against the schema the site serves (static/openlineage/).
"""

import enum
import json
import types
import typing
from pathlib import Path

import attr
from jsonschema import Draft202012Validator, FormatChecker
from openlineage.client.generated import (
    base,
    data_quality_assertions_dataset,
    data_quality_metrics_dataset,
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    schema_dataset,
    tags_job,
    tags_run,
)

ROOT = Path(__file__).resolve().parent.parent
DC43_FACET_SCHEMA = ROOT / "static" / "openlineage" / "Dc43RunFacet-1-0-0.json"

# Facet keys, as the spec's facet schemas name them, by the place they may appear.
DATASET_FACETS = {
    "schema": schema_dataset.SchemaDatasetFacet,
    "dataQualityMetrics": data_quality_metrics_dataset.DataQualityMetricsDatasetFacet,
    "version": dataset_version_dataset.DatasetVersionDatasetFacet,
}
INPUT_FACETS = {"dataQualityAssertions": data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet}
OUTPUT_FACETS = {}
# The client itself adds `tags` (its version) when it emits.
RUN_FACETS = {"errorMessage": error_message_run.ErrorMessageRunFacet, "tags": tags_run.TagsRunFacet}
JOB_FACETS = {"jobType": job_type_job.JobTypeJobFacet, "tags": tags_job.TagsJobFacet}

BASE_REQUIRED = {
    base.BaseFacet: ["_producer", "_schemaURL"],
    base.BaseEvent: ["eventTime", "producer", "schemaURL"],
}
FORMATS = {"eventTime": "date-time", "runId": "uuid", "producer": "uri", "_producer": "uri", "_schemaURL": "uri"}


class SchemaBuilder:
    def __init__(self):
        self.defs = {}

    def ref(self, cls):
        name = f"{cls.__module__.rpartition('.')[2]}.{cls.__name__}"
        if name not in self.defs:
            self.defs[name] = {}  # a placeholder first: classes refer to themselves (nested schema fields)
            self.defs[name] = self.object_schema(cls)
        return {"$ref": f"#/$defs/{name}"}

    def object_schema(self, cls, facets=None):
        hints = typing.get_type_hints(cls)  # each class's annotations read in its own module
        properties, required = {}, []
        for field in attr.fields(cls):
            properties[field.name] = self.type_schema(hints[field.name])
            if field.name in FORMATS:
                properties[field.name]["format"] = FORMATS[field.name]
            if field.default is attr.NOTHING:
                required.append(field.name)
        for klass, names in BASE_REQUIRED.items():
            if issubclass(cls, klass):
                required += [n for n in names if n not in required]
        if issubclass(cls, base.BaseFacet):
            properties["_schemaURL"] = {"const": cls._get_schema()}
        for name, allowed in (facets or {}).items():
            properties[name] = self.facets_schema(allowed)
        # Facets may carry more than their schema says; the events and their parts may not.
        return {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": issubclass(cls, base.BaseFacet),
        }

    def facets_schema(self, allowed):
        return {
            "type": "object",
            "properties": {key: self.ref(cls) if isinstance(cls, type) else cls for key, cls in allowed.items()},
            "additionalProperties": False,
        }

    def type_schema(self, hint):
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (typing.Union, types.UnionType):
            # The client's serialiser drops None: an optional field is absent, never null.
            kept = [a for a in args if a is not type(None)]
            return self.type_schema(kept[0]) if len(kept) == 1 else {"anyOf": [self.type_schema(a) for a in kept]}
        if origin is list:
            return {"type": "array", "items": self.type_schema(args[0])}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.type_schema(args[1])}
        if hint is typing.Any:
            return {}
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return {"enum": [m.value for m in hint]}
        if isinstance(hint, type) and attr.has(hint):
            return self.ref(hint)
        simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
        return {"type": simple[hint]}


def run_event_schema():
    builder = SchemaBuilder()
    dc43 = json.loads(DC43_FACET_SCHEMA.read_text())
    run_facets = {**RUN_FACETS, "dc43": {"$ref": "#/$defs/Dc43RunFacet"}}
    schema = builder.object_schema(base.RunEvent)
    schema["properties"]["run"] = builder.object_schema(base.Run, {"facets": run_facets})
    schema["properties"]["job"] = builder.object_schema(base.Job, {"facets": JOB_FACETS})
    schema["properties"]["inputs"] = {
        "type": "array",
        "items": builder.object_schema(base.InputDataset, {"facets": DATASET_FACETS, "inputFacets": INPUT_FACETS}),
    }
    schema["properties"]["outputs"] = {
        "type": "array",
        "items": builder.object_schema(base.OutputDataset, {"facets": DATASET_FACETS, "outputFacets": OUTPUT_FACETS}),
    }
    schema["properties"]["schemaURL"] = {"const": base.RunEvent._get_schema()}
    schema["$defs"] = {**builder.defs, "Dc43RunFacet": dc43["$defs"]["Dc43RunFacet"]}
    return schema


def validator():
    schema = run_event_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def problems(event):
    """What is wrong with an event (a dict, as sent), as readable lines; empty when it is valid."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(event)]
