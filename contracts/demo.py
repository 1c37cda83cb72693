"""The demo contracts shipped with the site (files under contracts/demo/): three for the rate scenarios, three shop.*."""

from pathlib import Path

from contracts import odcs

DEMO_DIR = Path(__file__).resolve().parent / "demo"


def demo_contracts():
    return [odcs.parse(path.read_text()) for path in sorted(DEMO_DIR.glob("*.yaml"))]


def load_demo_contracts(contract_model, version_model):
    """Create the demo contracts that are missing; never touches existing versions. Returns how many it created."""
    from contracts.models import derived_fields

    created = 0
    for parsed in demo_contracts():
        contract, _ = contract_model.objects.get_or_create(
            contract_id=parsed.contract_id, defaults={"name": parsed.document.get("name", "")}
        )
        _, made = version_model.objects.get_or_create(
            contract=contract,
            version=parsed.version,
            defaults={
                "status": parsed.document.get("status", "draft"),
                "document": parsed.document,
                **derived_fields(parsed.version, parsed.document),
            },
        )
        created += made
    return created
