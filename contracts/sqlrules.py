"""The policy for `sql` quality rules: what a contract's query may do before Spark runs it.

A query runs with the site's rights inside the site's Spark session, so it is held to a
narrow shape: one SELECT over the batch view, no command, no function that reaches outside
the batch (Java reflection, file names, file readers). The contracts app knows no Spark, so
on save the policy is applied to sqlglot's parse of the query; at run time pipelines/checks.py
applies the same policy to Spark's own parsed plan, so what Spark would run is what is judged.
"""

import re

from django.conf import settings

OFF, RESTRICTED = "off", "restricted"
MODES = (OFF, RESTRICTED)
DISABLED = "sql rules are disabled on this site"

PLACEHOLDER = re.compile(r"\$?\{(object|table|property|column)\}")
# The batch view's name at run time starts with this; a query may only reach it through a placeholder,
# or it could read the batch view of another run sharing the session.
VIEW_PREFIX = "dc43_batch"
# Calls that reach the JVM, the file system or the input files behind the batch.
DENIED_FUNCTIONS = frozenset(
    {
        "reflect",
        "java_method",
        "try_reflect",
        "input_file_name",
        "input_file_block_start",
        "input_file_block_length",
        "read_files",
    }
)


class Refused(ValueError):
    """The query is outside the policy; the message says why."""


def mode():
    return getattr(settings, "DC43_SQL_RULES", OFF)


def substitute(query, view, column):
    """The query with its placeholders replaced, or Refused when it names what only placeholders may name."""
    if VIEW_PREFIX in query.lower():
        raise Refused(f"names {VIEW_PREFIX}* directly; use {{object}} for the batch")
    text = PLACEHOLDER.sub(lambda m: view if m.group(1) in ("object", "table") else column, query)
    if "${" in text:
        # Spark substitutes ${...} variables (including ${env:...}) before it parses.
        raise Refused("uses ${...} variable substitution")
    return text


def function_refusal(name):
    name = name.lower().rsplit(".", 1)[-1]
    if name in DENIED_FUNCTIONS:
        return f"calls {name}()"
    return None


def relation_refusal(parts, view, cte_names):
    if len(parts) == 1 and (parts[0].lower() == view.lower() or parts[0].lower() in cte_names):
        return None
    return f"reads {'.'.join(parts)}; only the batch view ({{object}}) may be read"


def refusal(query):
    """Why a query breaks the policy (judged on sqlglot's Spark-dialect parse), or None when it is accepted."""
    import sqlglot
    from sqlglot import exp

    view = f"{VIEW_PREFIX}_saved"
    try:
        text = substitute(query, view, "`column`")
        statements = [s for s in sqlglot.parse(text, read="spark", error_level=sqlglot.ErrorLevel.RAISE) if s]
    except Refused as exc:
        return str(exc)
    except sqlglot.errors.SqlglotError as exc:
        return f"does not parse: {str(exc).splitlines()[0][:160]}"
    if len(statements) != 1:
        return f"holds {len(statements)} statements; a rule is a single SELECT"
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        kind = tree.name if isinstance(tree, exp.Command) else tree.key
        return f"is not a SELECT but a command ({kind.upper()})"
    cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for node in tree.walk():
        if isinstance(node, exp.Command | exp.DDL | exp.DML | exp.Set | exp.Cache | exp.QueryTransform):
            return f"contains a command ({node.key.upper()})"
        if isinstance(node, exp.Table):
            if not isinstance(node.this, exp.Identifier):
                return "reads a table-valued function; only the batch view ({object}) may be read"
            parts = [p.name for p in node.parts]
            reason = relation_refusal(parts, view, cte_names)
            if reason:
                return reason
        if isinstance(node, exp.Func):
            reason = function_refusal(node.name if isinstance(node, exp.Anonymous) else node.sql_name())
            if reason:
                return reason
    return None
