"""Plain views of an ODCS document's schema, for pages and the schema gate."""

from contracts.odcs import OPERATORS


def property_type(prop):
    physical = prop.get("physicalType")
    logical = prop.get("logicalType")
    if physical and logical and physical.lower() != logical.lower():
        return f"{logical} ({physical})"
    return physical or logical or "—"


def describe_rule(item):
    """One line for a quality item, as a person would read it."""
    kind = item.get("type", "library")
    if kind == "text":
        return f"text: {item.get('description', '')}".strip()
    if kind == "sql":
        return f"sql: {item.get('query', '')}"
    if kind == "custom":
        return f"custom ({item.get('engine', 'unknown engine')})"
    name = item.get("metric") or item.get("rule") or "value"
    operators = [f"{op} {item[op]}" for op in OPERATORS if op in item]
    unit = f" {item['unit']}" if item.get("unit") and item.get("unit") != "rows" else ""
    text = f"{name} {' '.join(operators)}{unit}".strip()
    if item.get("severity"):
        text += f" [{item['severity']}]"
    return text


def property_rules(prop):
    rules = []
    if prop.get("unique"):
        rules.append("unique")
    for key, value in (prop.get("logicalTypeOptions") or {}).items():
        rules.append(f"{key} {value}")
    rules.extend(describe_rule(item) for item in prop.get("quality") or [])
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
                "rules": [describe_rule(item) for item in obj.get("quality") or []],
                "columns": columns,
            }
        )
    return objects
