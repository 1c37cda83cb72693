from django.db import migrations


def load(apps, schema_editor):
    from contracts.demo import load_demo_contracts

    load_demo_contracts(apps.get_model("contracts", "Contract"), apps.get_model("contracts", "ContractVersion"))


class Migration(migrations.Migration):
    dependencies = [("contracts", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
