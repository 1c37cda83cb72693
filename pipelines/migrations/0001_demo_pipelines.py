from django.db import migrations


def load(apps, schema_editor):
    from pipelines.specs import load_demo_pipelines

    load_demo_pipelines(apps.get_model("registry", "Pipeline"))


class Migration(migrations.Migration):
    dependencies = [("registry", "0006_pipeline"), ("contracts", "0003_shop_contracts")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
