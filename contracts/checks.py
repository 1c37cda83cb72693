"""ODCS contracts compiled to checks, as plain data, and verdicts computed from measurements.

Nothing here knows Spark: `pipelines.checks` turns each `Rule` into Spark expressions and
hands the measured counts back to `judge`. The work lives in three modules, one per job,
and this one names what callers use:

- `contracts.rules`: compiling a document into columns and rules;
- `contracts.schema_gate`: a DataFrame's schema against the contract's (type matching);
- `contracts.verdicts`: the verdict and run-type vocabulary, and judging measurements.
"""

from contracts.rules import (
    METRIC,
    PREDICATE_KINDS,
    ROW,
    SKIPPED,
    Column,
    CompiledContract,
    Rule,
    accepts,
    compile_contract,
    normalise_severity,
    rule_key,
    rule_keys,
    zero_tolerance,
)
from contracts.schema_gate import Difference, compare_schema, normalise_type, type_matches
from contracts.verdicts import (
    BLOCK,
    ENFORCE,
    OBSERVE,
    OK,
    VERDICT_ORDER,
    VERDICTS,
    WARN,
    BatchVerdict,
    RuleResult,
    RunType,
    Verdict,
    judge,
    rule_verdict,
    worst,
)

__all__ = [
    "BLOCK",
    "ENFORCE",
    "METRIC",
    "OBSERVE",
    "OK",
    "PREDICATE_KINDS",
    "ROW",
    "SKIPPED",
    "VERDICTS",
    "VERDICT_ORDER",
    "WARN",
    "BatchVerdict",
    "Column",
    "CompiledContract",
    "Difference",
    "Rule",
    "RuleResult",
    "RunType",
    "Verdict",
    "accepts",
    "compare_schema",
    "compile_contract",
    "judge",
    "normalise_severity",
    "normalise_type",
    "rule_key",
    "rule_keys",
    "rule_verdict",
    "type_matches",
    "worst",
    "zero_tolerance",
]
