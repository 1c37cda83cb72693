"""A run's figures summed over all its batches, by the database, in one statement per page.

Two dialects (PostgreSQL, SQLite) of the same JSON reads over `MicroBatch.metrics`.
"""

import json

from django.conf import settings
from django.db import connections

from contracts.checks import VERDICTS

BY_RANK = VERDICTS  # the SQL ranks a verdict 0, 1 or 2 in this order, so the worst is a MAX

# How each database reads a batch's JSON metrics: one rule's field at a position, the quarantine
# reasons of a run's batches as one object {reason: rows}, and the reject samples of its first
# batches with quarantined rows as one list.
JSON_SQL = {
    "postgresql": {
        "rule_field": "metrics #>> '{{rules,{position},{key}}}'",
        "number": "({})::numeric",
        "whole": "OFFSET 0",
        "reasons": """(SELECT jsonb_object_agg(reason, total) FROM (
            SELECT x.key AS reason, SUM(COALESCE(x.value::numeric, 0)) AS total
              FROM {table} b CROSS JOIN LATERAL jsonb_each_text(b.metrics -> 'reasons') AS x
             WHERE b.run_id = %s AND b.rejected_rows > 0 AND jsonb_typeof(b.metrics -> 'reasons') = 'object'
             GROUP BY x.key) AS r)""",
        "samples": """(SELECT jsonb_agg(sample ORDER BY stream, batch_id) FROM (
            SELECT metrics -> 'reject_sample' AS sample, stream, batch_id FROM {table}
             WHERE run_id = %s AND rejected_rows > 0 ORDER BY stream, batch_id LIMIT {limit}) AS s)""",
    },
    "sqlite": {
        "rule_field": "json_extract(metrics, '$.rules[{position}].{key}')",
        "number": "{}",
        "whole": "LIMIT -1 OFFSET 0",
        "reasons": """(SELECT json_group_object(reason, total) FROM (
            SELECT x.key AS reason, SUM(x.value) AS total
              FROM {table} b, json_each(b.metrics, '$.reasons') AS x
             WHERE b.run_id = %s AND b.rejected_rows > 0 AND json_type(b.metrics, '$.reasons') = 'object'
             GROUP BY x.key))""",
        "samples": """(SELECT json_group_array(json(COALESCE(json_extract(metrics, '$.reject_sample'), 'null'))) FROM (
            SELECT metrics FROM {table}
             WHERE run_id = %s AND rejected_rows > 0 ORDER BY stream, batch_id LIMIT {limit}))""",
    },
}


def batch_summary(batches, run_id, rules=()):
    """Sums over every batch of a run, added up by the database in one statement.

    `batches` is a MicroBatch queryset: it names the table and the database.

    Returns {"totals": {...}, "rules": [per rule of `rules`: failed rows, batches failing, batches
    measured, worst verdict], "reasons": [(reason, rows) of quarantined rows, most rows first],
    "reject_sample": [the rejected rows kept as a sample, first batch first]}.

    `rules` are the rules as the run's batches list them in their metrics (the dicts of one
    batch): every batch of a run is measured by the same compiled contract, so a rule's figures
    are read at its position in each batch, a few lookups per batch, instead of unpacking every
    batch's list into rows. That costs several times more, and makes PostgreSQL plan a
    10,000-batch run as a big job (JIT, parallel workers) that takes longer to start than the
    work itself. A batch listing another rule at that position is not counted for it, which its
    "measured" figure shows. Lookups that cannot find anything are skipped: a batch whose status
    is ok has only ok verdicts (its status is their worst), a row-level rule fails no row in a
    batch without violations (those are the rows failing some row-level rule), and a skipped
    rule measures nothing.
    """
    connection = connections[batches.db]
    dialect = JSON_SQL[connection.vendor]
    table = connection.ops.quote_name(batches.model._meta.db_table)
    run_pk = batches.model._meta.get_field("run").target_field.get_db_prep_value(run_id, connection)
    fields = ["row_count", "violations", "rejected_rows", "status", "batch_id"]
    figures = [
        "COUNT(*)",
        "SUM(row_count)",
        "SUM(violations)",
        "SUM(rejected_rows)",
        "SUM(CASE WHEN status = 'empty' THEN 1 ELSE 0 END)",
        "MIN(CASE WHEN rejected_rows > 0 THEN batch_id END)",
    ]
    params = []
    for i, rule in enumerate(rules):
        field = lambda key, i=i: dialect["rule_field"].format(position=i, key=key)  # noqa: E731
        failed = f"COALESCE({dialect['number'].format(field('failed'))}, 0)"
        verdict = (
            f"CASE WHEN status = 'ok' THEN 0 ELSE CASE {field('verdict')} WHEN 'block' THEN 2 "
            f"WHEN 'warn' THEN 1 ELSE 0 END END"
        )
        if rule.get("skipped"):
            failed = verdict = "0"
        elif rule.get("level") == "row":
            failed = f"CASE WHEN violations > 0 THEN {failed} ELSE 0 END"
        fields += [f"{field('rule')} AS rule{i}", f"{failed} AS failed{i}", f"{verdict} AS verdict{i}"]
        figures += [
            f"SUM(CASE WHEN rule{i} = %s THEN failed{i} ELSE 0 END)",
            f"SUM(CASE WHEN rule{i} = %s AND failed{i} > 0 THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN rule{i} = %s THEN 1 ELSE 0 END)",
            f"MAX(CASE WHEN rule{i} = %s THEN verdict{i} ELSE 0 END)",
        ]
        params += [rule.get("rule", "")] * 4
    sql = (
        f"SELECT {', '.join(figures)}, {dialect['reasons'].format(table=table)}, "
        f"{dialect['samples'].format(table=table, limit=settings.DC43_REJECT_SAMPLE_SIZE)} "
        # An OFFSET keeps the inner query whole, so each JSON lookup runs once per batch.
        f"FROM (SELECT {', '.join(fields)} FROM {table} WHERE run_id = %s {dialect['whole']}) AS batch"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + [run_pk] * 3)
        row = cursor.fetchone()
    totals = dict(
        zip(["batches", "rows", "violations", "rejected", "empty"], (int(v or 0) for v in row[:5]), strict=False)
    )
    totals["first_rejected"] = None if row[5] is None else int(row[5])
    per_rule = []
    for i in range(len(rules)):
        failed, failing, measured, verdict = (int(v or 0) for v in row[6 + 4 * i : 10 + 4 * i])
        per_rule.append(
            {"failed": failed, "batches_failing": failing, "measured": measured, "verdict": BY_RANK[verdict]}
        )
    reasons, samples = (value if isinstance(value, (dict, list)) else json.loads(value or "null") for value in row[-2:])
    reasons = sorted(((k, int(v or 0)) for k, v in (reasons or {}).items()), key=lambda item: (-item[1], item[0]))
    sample = [r for rows in samples or [] if isinstance(rows, list) for r in rows if isinstance(r, dict)]
    return {"totals": totals, "rules": per_rule, "reasons": reasons, "reject_sample": sample}
