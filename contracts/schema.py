"""Plain views of an ODCS document's schema, for pages and the schema gate."""

from contracts.odcs import OPERATORS

SYMBOLS = {
    "mustBe": "=",
    "mustNotBe": "≠",
    "mustBeGreaterThan": ">",
    "mustBeGreaterOrEqualTo": "≥",
    "mustBeLessThan": "<",
    "mustBeLessOrEqualTo": "≤",
}


def property_type(prop):
    physical = prop.get("physicalType")
    logical = prop.get("logicalType")
    if physical and logical and str(physical).lower() != str(logical).lower():
        return f"{logical} ({physical})"
    return physical or logical or "—"


def _value(value):
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _comparison(item):
    for op in OPERATORS:
        if op not in item:
            continue
        value = item[op]
        if op in SYMBOLS:
            if isinstance(value, list):  # `rule: enum` with a `mustBe` list
                return f"{'in' if op == 'mustBe' else 'not in'} [{_value(value)}]"
            return f"{SYMBOLS[op]} {_value(value)}"
        low, high = (value + [None, None])[:2] if isinstance(value, list) else (value, None)
        word = "between" if op == "mustBeBetween" else "not between"
        return f"{word} {low} and {high}"
    return ""


def describe_rule(item):
    """One line for a quality item, as a person would read it."""
    kind = item.get("type", "library")
    if kind == "text":
        return f"text: {item.get('description', '')}".strip()
    if kind == "sql":
        return f"sql: {item.get('query', '')} {_comparison(item)}".strip()
    if kind == "custom":
        return f"custom ({item.get('engine', 'unknown engine')})"
    name = item.get("metric") or item.get("rule")
    arguments = item.get("arguments") if isinstance(item.get("arguments"), dict) else {}
    if item.get("validValues") is not None:
        arguments = {**arguments, "validValues": item["validValues"]}
    text = name or "each value"
    if arguments:
        text += " (" + "; ".join(f"{key}: {_value(value)}" for key, value in arguments.items()) + ")"
    comparison = _comparison(item)
    if comparison:
        text += f" {comparison}"
    if item.get("unit") == "percent":
        text += " %"
    if item.get("severity"):
        text += f" [{item['severity']}]"
    return text


def property_rules(prop):
    rules = []
    if prop.get("primaryKey"):
        rules.append("primary key")
    if prop.get("unique"):
        rules.append("unique")
    for key, value in (prop.get("logicalTypeOptions") or {}).items():
        rules.append(f"{key} {_value(value)}")
    rules.extend(describe_rule(item) for item in prop.get("quality") or [] if isinstance(item, dict))
    return rules


def schema_rows(document):
    """[{name, description, rules, columns: [{name, type, required, rules, classification}]}] per schema object."""
    objects = []
    for obj in document.get("schema") or []:
        columns = [
            {
                "name": prop.get("name"),
                "type": property_type(prop),
                "required": bool(prop.get("required")),
                "rules": property_rules(prop),
                "description": prop.get("description", ""),
                "classification": prop.get("classification", ""),
            }
            for prop in obj.get("properties") or []
        ]
        objects.append(
            {
                "name": obj.get("name"),
                "description": obj.get("description", ""),
                "rules": [describe_rule(item) for item in obj.get("quality") or [] if isinstance(item, dict)],
                "columns": columns,
            }
        )
    return objects
