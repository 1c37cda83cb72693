from django.db import migrations


def load(apps, schema_editor):
    # The demo loader creates only what is missing: here, the three shop.* contracts of orders-landing.
    from contracts.demo import load_demo_contracts

    load_demo_contracts(apps.get_model("contracts", "Contract"), apps.get_model("contracts", "ContractVersion"))


class Migration(migrations.Migration):
    dependencies = [("contracts", "0002_demo_contracts")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
