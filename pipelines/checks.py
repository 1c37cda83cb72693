"""Compiled contract checks as Spark expressions, measured in one pass.

`contracts.checks` says what each rule means; this module says how Spark counts
it. Every row rule and count metric of a batch becomes one aggregate expression,
so a batch is measured by a single aggregation (or `observe` on the DataFrame
being written). A batch already written is first proven from its files' footers
(`measure_written`, `pipelines.footers`), and only what they leave open is
aggregated. Only `duplicateValues`/`unique` and `sql` rules need a job of their
own, and only when the contract has them.
"""

import dataclasses
import itertools
import logging
import re

from pyspark.sql import Observation, SparkSession
from pyspark.sql import functions as F

from contracts import sla, sqlrules
from contracts.checks import (
    ENFORCE,
    METRIC,
    ROW,
    SKIPPED,
    Rule,
    compare_schema,
    judge,
    worst,
)
from pipelines import footers

logger = logging.getLogger("dc43.checks")

ALIAS_PREFIX = "dc43_r"
EVENT_PREFIX, FAILING_EVENT_PREFIX = "dc43_t", "dc43_tf"
REASONS = "reject_reasons"
MALFORMED_RULE = "malformed_record"
_view_ids = itertools.count()

COMPARATORS = {
    "mustBe": lambda c, t: c == t,
    "mustNotBe": lambda c, t: c != t,
    "mustBeGreaterThan": lambda c, t: c > t,
    "mustBeGreaterOrEqualTo": lambda c, t: c >= t,
    "mustBeLessThan": lambda c, t: c < t,
    "mustBeLessOrEqualTo": lambda c, t: c <= t,
    "mustBeBetween": lambda c, t: (c >= t[0]) & (c <= t[1]),
    "mustNotBeBetween": lambda c, t: (c < t[0]) | (c > t[1]),
}


def schema_fields(schema):
    """[(name, type, nullable)] of a Spark schema, in the spelling the gate compares."""
    return [(f.name, f.dataType.simpleString(), f.nullable) for f in schema.fields]


def schema_gate(schema, compiled):
    differences = compare_schema(schema_fields(schema), compiled)
    return {
        "verdict": worst(d.verdict for d in differences),
        "differences": [d.as_dict() for d in differences],
        "snapshot": [{"name": n, "type": t, "nullable": nullable} for n, t, nullable in schema_fields(schema)],
        "contract": f"{compiled.contract_id}@{compiled.version}",
    }


def _column(df_columns, name):
    # A column the DataFrame lacks reads as all-null: required fails, comparisons never do.
    if name in df_columns:
        return F.col(f"`{name}`")
    return F.lit(None)


def _values_match(column, values, numeric_column):
    if numeric_column and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return column.isin(values)
    # Compare as text so a list like ['N/A', ''] never forces a failing cast of a numeric column.
    return column.cast("string").isin([str(v) for v in values])


def offends(rule, df_columns, types):
    """A boolean Column, never null, true for the rows a rule counts against; None for non-row rules."""
    if rule.level == SKIPPED or rule.kind in ("duplicate_values", "row_count", "sql", sla.KIND):
        return None
    c = _column(df_columns, rule.column)
    numeric = types.get(rule.column, "") in ("tinyint", "smallint", "int", "bigint", "float", "double") or types.get(
        rule.column, ""
    ).startswith("decimal")
    kind = rule.kind
    if kind == MALFORMED_RULE:
        return c.isNotNull()
    if kind in ("not_null", "null_values"):
        return c.isNull()
    if kind == "compare":
        return F.coalesce(~COMPARATORS[rule.operator](c, rule.threshold), F.lit(False))
    if kind == "length":
        return F.coalesce(~COMPARATORS[rule.operator](F.length(c), rule.threshold), F.lit(False))
    if kind == "size":
        return F.coalesce(~COMPARATORS[rule.operator](F.size(c), rule.threshold), F.lit(False))
    if kind == "multiple_of":
        return F.coalesce(c % F.lit(rule.threshold) != 0, F.lit(False))
    if kind == "in_set":
        return F.coalesce(~_values_match(c, rule.params["values"], numeric), F.lit(False))
    if kind == "not_in_set":
        return F.coalesce(_values_match(c, rule.params["values"], numeric), F.lit(False))
    if kind == "pattern":
        return F.coalesce(~c.cast("string").rlike(rule.params["pattern"]), F.lit(False))
    if kind == "missing_values":
        values = rule.params.get("values") or []
        missing = c.isNull()
        if values:
            missing = missing | F.coalesce(_values_match(c, values, numeric), F.lit(False))
        return missing
    if kind == "invalid_values":
        valid = F.lit(True)
        if rule.params.get("values") is not None:
            valid = valid & _values_match(c, rule.params["values"], numeric)
        if rule.params.get("pattern") is not None:
            valid = valid & c.cast("string").rlike(rule.params["pattern"])
        return F.coalesce(c.isNotNull() & ~valid, F.lit(False))
    raise ValueError(f"no Spark form for rule kind {rule.kind!r}")


class BatchChecks:
    """The checks of one contract for one DataFrame shape: built once, used for every micro-batch."""

    def __init__(self, compiled, schema, run_type=ENFORCE, malformed_column=None):
        rules = [_vetted(rule) for rule in compiled.rules]
        self.columns = [f.name for f in schema.fields]
        self.malformed_column = malformed_column if malformed_column in self.columns else None
        if self.malformed_column:
            rules.append(malformed_rule(self.malformed_column))
        compiled = dataclasses.replace(compiled, rules=rules)
        self.compiled = compiled
        self.run_type = run_type
        types = {name: type_name for name, type_name, _ in schema_fields(schema)}
        self.types = types
        self.predicates = {}
        self.file_predicates = {}  # the same, for the files written: a line that did not parse is never in them
        self.unusable = {}
        for rule in compiled.rules:
            try:
                predicate = offends(rule, self.columns, types)
            except Exception as exc:  # a rule whose parameters Spark cannot express
                self.unusable[rule.name] = f"cannot evaluate: {short_error(exc)}"
                continue
            if predicate is not None:
                self.file_predicates[rule.name] = predicate
                if self.malformed_column and rule.kind != MALFORMED_RULE:
                    # A line that did not parse breaks one rule, malformed_record, not every rule its nulls would.
                    predicate = predicate & self.parsed()
                self.predicates[rule.name] = predicate
        self.aliases = {name: f"{ALIAS_PREFIX}{i}" for i, name in enumerate(self.predicates)}
        self.row_rule_names = [r.name for r in compiled.rules if r.level == ROW and r.name in self.predicates]
        self.metric_rule_names = [r.name for r in compiled.rules if r.level == METRIC and r.name in self.predicates]
        self.row_count_names = {r.name for r in compiled.rules if r.kind == "row_count"}
        self.separate_rules = [r for r in compiled.rules if r.kind in ("duplicate_values", "sql") and r.level == METRIC]
        self.slas = {r.name: sla.of_rule(r) for r in compiled.rules if r.kind == sla.KIND and r.level == METRIC}
        # Each event-time column an SLA reads: its oldest value, over all rows and over the failing ones.
        self.event_columns = sorted(
            {s.column for s in self.slas.values() if s.column and s.column in self.columns}, key=str
        )

    # -- building blocks --

    def parsed(self):
        """True for rows that parsed (every row, when the source keeps no malformed lines)."""
        if not self.malformed_column:
            return F.lit(True)
        return F.col(f"`{self.malformed_column}`").isNull()

    def failing(self):
        """True for rows that break at least one row rule (these carry reasons and can be quarantined)."""
        return _any(self.predicates[name] for name in self.row_rule_names)

    def reasons(self):
        if not self.row_rule_names:
            return F.array().cast("array<string>")
        return F.array_compact(F.array(*[F.when(self.predicates[n], F.lit(n)) for n in self.row_rule_names]))

    def batch_aggregates(self, count_failing=True):
        """What every batch needs counted over all its rows: rows, failing rows, and tolerant metrics.

        Few aggregates on purpose: `observe` updates each of them row by row, outside Spark's
        generated code, and its cost grows with their number. Which row rules a failing row broke
        is counted over the failing rows only (`rule_aggregates`), and only when there are any.
        A writer that routes the failing rows elsewhere counts them there (`count_failing=False`).
        """
        exprs = [F.count(F.lit(1)).alias("rows")]
        if count_failing:
            exprs.append(_count_where(self.failing()).alias("violations"))
        for name in self.metric_rule_names:
            exprs.append(_count_where(self.predicates[name]).alias(self.aliases[name]))
        return exprs + self.event_time_aggregates()

    def event_time_aggregates(self):
        """The oldest event time (epoch seconds) of each SLA's `element` column, of all rows and of failing rows."""
        exprs = []
        failing = self.failing()
        for i, column in enumerate(self.event_columns):
            seconds = F.col(f"`{column}`").try_cast("timestamp").cast("double")
            exprs.append(F.min(seconds).alias(f"{EVENT_PREFIX}{i}"))
            exprs.append(F.min(F.when(failing, seconds)).alias(f"{FAILING_EVENT_PREFIX}{i}"))
        return exprs

    def event_times_from(self, row):
        """The oldest event times an observation measured (epoch seconds), by their aliases; nulls left out."""
        prefixes = (EVENT_PREFIX, FAILING_EVENT_PREFIX)
        return {k: float(v) for k, v in row.items() if k.startswith(prefixes) and v is not None}

    @staticmethod
    def add_event_times(measured, more):
        """Fold another slice's oldest event times into `measured`: the oldest of the two wins."""
        for alias, seconds in more.items():
            measured[alias] = min(seconds, measured.get(alias, seconds))

    def measure_slas(self, row, started_at, previous_started, verdict_at):
        """Each SLA's measurement on a batch, in its unit, from the aggregates in `row` and the batch's times.

        Times are epoch seconds; `row` holds the oldest event times by alias (an observation's row, or the
        measurements `counts_from` made of it); `previous_started` is when the run's previous batch with rows started.
        """
        measured = {}
        for name, agreement in self.slas.items():
            if agreement.column and agreement.column not in self.columns:
                measured[name] = {"skipped": f"the batch has no column {agreement.column}"}
                continue
            index = self.event_columns.index(agreement.column) if agreement.column in self.event_columns else None
            oldest = row.get(f"{EVENT_PREFIX}{index}") if index is not None else None
            oldest_failing = row.get(f"{FAILING_EVENT_PREFIX}{index}") if index is not None else None
            measured[name] = sla.measure(
                agreement,
                verdict_at=verdict_at,
                oldest_event=oldest,
                oldest_failing_event=oldest_failing,
                started_at=started_at,
                previous_started=previous_started,
            )
        return measured

    def rule_aggregates(self):
        """One count per row rule: over the failing rows they give each rule's failures."""
        return [_count_where(self.predicates[name]).alias(self.aliases[name]) for name in self.row_rule_names]

    def metric_aggregates(self):
        return [_count_where(self.predicates[name]).alias(self.aliases[name]) for name in self.metric_rule_names]

    def aggregates(self):
        return self.batch_aggregates() + self.rule_aggregates()

    def provable(self, names):
        """Whether the footers of a written slice could settle every rule in `names` (on some batch, not this one)."""
        rules = {r.name: r for r in self.compiled.rules}
        return all(footers.could_prove(rules[n], self.types.get(rules[n].column or "", "")) for n in names)

    # -- measuring --

    def observe(self, df, aggregates=None):
        """Attach a one-pass measurement to a DataFrame about to be written; returns (df, observation)."""
        observation = Observation(f"dc43_{next(_view_ids)}")
        return df.observe(observation, *(aggregates or self.aggregates())), observation

    def counts_from(self, row):
        """Measurements by rule name; a rule not in `row` counted nothing (no failing rows to break it)."""
        measured = {"rows": int(row.get("rows") or 0), "violations": int(row.get("violations") or 0)}
        measured.update(self.event_times_from(row))
        for name, alias in self.aliases.items():
            measured[name] = int(row.get(alias) or 0)
        for name, error in self.unusable.items():
            measured[name] = {"error": error}
        return measured

    def rule_counts(self, failing_df):
        """Per-rule failures of a batch's failing rows, by one aggregation (when they were not counted on the way)."""
        row = failing_df.agg(*self.rule_aggregates()).first().asDict()
        return {name: int(row.get(self.aliases[name]) or 0) for name in self.row_rule_names}

    def measure_written(self, spark, folder, names, count_failing=True):
        """Measure the rules `names` over a folder just written: (measured, how each rule was established).

        Each rule is proven from the files' footers where they settle it exactly ("footer"); the rest,
        and the violations when the counts alone do not give them, are counted by one aggregation over
        the written files, which reads only the columns those rules name ("scan"). Invariant 6: the
        batch is never measured by one job per rule.
        """
        proof = footers.prove(folder, self.compiled)
        measured = {"rows": proof.rows, "violations": proof.violations if count_failing else 0}
        how = {}
        unknown = []
        for name in names:
            finding = proof.findings.get(name)
            if finding is not None and finding.known:
                measured[name], how[name] = finding.count, "footer"
            else:
                unknown.append(name)
        exprs = [_count_where(self.file_predicates[n]).alias(self.aliases[n]) for n in unknown]
        if measured["violations"] is None:
            exprs.append(_count_where(_any(self.file_predicates[n] for n in self.row_rule_names)).alias("violations"))
        if exprs:
            row = spark.read.parquet(folder).agg(*exprs).first().asDict()
            for name in unknown:
                measured[name], how[name] = int(row[self.aliases[name]] or 0), "scan"
            if "violations" in row:
                measured["violations"] = int(row["violations"] or 0)
        for name, error in self.unusable.items():
            measured[name] = {"error": error}
        return measured, how

    def measure_static(self, df):
        """Measure a whole DataFrame with one aggregation job (plus the rules that need their own)."""
        row = df.agg(*self.aggregates()).first()
        measured = self.counts_from(row.asDict())
        measured.update(self.measure_separately(df, measured["rows"]))
        return measured

    def measure_separately(self, df, rows):
        """duplicateValues/unique and sql rules: a job each, skipped on an empty batch."""
        measured = {}
        for rule in self.compiled.rules:
            if rule.kind == "row_count":
                measured[rule.name] = rows
        for rule in self.separate_rules:
            try:
                if rule.kind == "duplicate_values":
                    measured[rule.name] = 0 if rows == 0 else duplicate_rows(df, rule.columns)
                else:
                    measured[rule.name] = sql_value(df, rule)
            except Exception as exc:
                logger.warning("rule %s could not run: %s", rule.name, exc)
                measured[rule.name] = {"error": f"could not run: {short_error(exc)}"}
        return measured

    def judge(self, measured):
        return judge(self.compiled, measured, self.run_type)


def malformed_rule(column):
    """The rule every governed file source has: a line must parse (its raw text lands in `column` when not)."""
    return Rule(
        name=MALFORMED_RULE,
        kind=MALFORMED_RULE,
        level=ROW,
        column=column,
        operator="mustBe",
        threshold=0,
        severity="error",
        description="every line of the source parses as a record",
        source="source",
    )


def _any(predicates):
    predicates = list(predicates)
    if not predicates:
        return F.lit(False)
    condition = predicates[0]
    for predicate in predicates[1:]:
        condition = condition | predicate
    return condition


def _count_where(condition):
    return F.coalesce(F.sum(F.when(condition, 1).otherwise(0)), F.lit(0)).cast("long")


def duplicate_rows(df, columns):
    """Rows beyond the first of each value (rows with a null in the key are not duplicates)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        return 0
    keyed = df.select(*[F.col(f"`{c}`") for c in columns]).dropna()
    row = keyed.groupBy(*columns).count().where(F.col("count") > 1).agg(F.sum(F.col("count") - 1).alias("dups")).first()
    return int(row["dups"] or 0)


def sql_value(df, rule):
    """Run a sql rule against the batch as a temporary view; its first value is the measurement."""
    view = f"{sqlrules.VIEW_PREFIX}_{next(_view_ids)}"
    query = sqlrules.substitute(rule.params["query"], view, f"`{rule.column}`" if rule.column else "")
    reason = spark_sql_refusal(df.sparkSession, query, view)
    if reason:
        # Vetted when the checks were built; checked again on the very text that would run.
        raise sqlrules.Refused(reason)
    df.createOrReplaceTempView(view)
    try:
        row = df.sparkSession.sql(query).first()
        return None if row is None else row[0]
    finally:
        df.sparkSession.catalog.dropTempView(view)


# Plan nodes a read-only query over one view is made of; anything else (every Command, script
# transforms, table-valued functions, file relations) is refused.
READ_ONLY_NODES = frozenset(
    {
        "Project",
        "Filter",
        "Aggregate",
        "UnresolvedHaving",
        "UnresolvedRelation",
        "SubqueryAlias",
        "UnresolvedSubqueryColumnAliases",
        "UnresolvedWith",
        "Join",
        "Sort",
        "GlobalLimit",
        "LocalLimit",
        "Offset",
        "Distinct",
        "Deduplicate",
        "Union",
        "Intersect",
        "Except",
        "OneRowRelation",
        "LocalRelation",
        "WithWindowDefinition",
        "UnresolvedHint",
    }
)


def spark_sql_refusal(spark, query, view):
    """Why Spark's parsed plan of `query` breaks the sql rule policy, or None: the run-time twin of sqlrules.refusal."""
    try:
        plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(query)
    except Exception as exc:
        return f"does not parse as a single statement: {short_error(exc)}"
    cte_names = set()
    pending = [plan]
    while pending:
        node = pending.pop()
        kind = node.getClass().getSimpleName()
        if kind not in READ_ONLY_NODES:
            return f"is not a plain SELECT: it holds {kind}"
        if kind == "UnresolvedWith":
            cte_names.update(alias.alias().lower() for alias in _seq(node.innerChildren()))
        if kind == "UnresolvedRelation":
            reason = sqlrules.relation_refusal(_seq(node.multipartIdentifier()), view, cte_names)
            if reason:
                return reason
        expressions = _seq(node.expressions())
        while expressions:
            expression = expressions.pop()
            expression_kind = expression.getClass().getSimpleName()
            if expression_kind == "ExpressionWithUnresolvedIdentifier":
                return "uses IDENTIFIER(...), which names a function or column only at run time"
            if expression_kind == "UnresolvedFunction":
                reason = sqlrules.function_refusal(".".join(_seq(expression.nameParts())))
                if reason:
                    return reason
            expressions.extend(_seq(expression.children()))
        # innerChildren holds CTE definitions and the plans of subqueries in expressions.
        pending.extend(_seq(node.children()) + _seq(node.innerChildren()))
    return None


def _seq(scala_seq):
    return [scala_seq.apply(i) for i in range(scala_seq.size())]


def _vetted(rule):
    """The rule, or a skipped copy saying why it must not run here (sql policy, patterns Java cannot compile)."""
    reason = None
    if rule.level == SKIPPED:
        return rule
    if rule.kind == "sql":
        reason = _sql_rule_refusal(rule)
    elif rule.params.get("pattern") is not None:
        reason = java_pattern_problem(rule.params["pattern"])
    if reason is None:
        return rule
    return dataclasses.replace(rule, level=SKIPPED, note=reason)


def _sql_rule_refusal(rule):
    if sqlrules.mode() != sqlrules.RESTRICTED:
        return sqlrules.DISABLED
    view = f"{sqlrules.VIEW_PREFIX}_vetted"
    try:
        query = sqlrules.substitute(rule.params["query"], view, f"`{rule.column}`" if rule.column else "")
    except sqlrules.Refused as exc:
        return f"refused: {exc}"
    reason = spark_sql_refusal(SparkSession.active(), query, view)
    return f"refused: {reason}" if reason else None


def java_pattern_problem(pattern):
    """Spark's rlike compiles with java.util.regex; a pattern it refuses would fail the whole batch."""
    try:
        SparkSession.active()._jvm.java.util.regex.Pattern.compile(str(pattern))
    except Exception as exc:
        return f"pattern Java cannot compile: {short_error(exc)}"
    return None


def measure(df, compiled, run_type=ENFORCE):
    """Measure a static DataFrame against a compiled contract; returns a BatchVerdict."""
    checks = BatchChecks(compiled, df.schema, run_type)
    return checks.judge(checks.measure_static(df))


PATHS = re.compile(r"(?<![\w])(?:[a-z][a-z0-9+.-]*:)?/{1,3}[\w.~%@+/-]+")


def short_error(exc, limit=160):
    """What a page may show of an exception: its first line, without Java frames or file paths."""
    java = getattr(exc, "java_exception", None)  # py4j's own first line only says which call failed
    lines = [line for line in str(java if java is not None else exc).strip().splitlines() if line.strip()]
    text = PATHS.sub("<path>", lines[0] if lines else type(exc).__name__)
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["BatchChecks", "measure", "schema_gate", "schema_fields", "REASONS", "MALFORMED_RULE"]
