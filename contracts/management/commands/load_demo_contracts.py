from django.core.management.base import BaseCommand

from contracts.demo import load_demo_contracts
from contracts.models import Contract, ContractVersion


class Command(BaseCommand):
    help = "Load the three demo contracts (version 0.1.0) where they are missing."

    def handle(self, *args, **options):
        created = load_demo_contracts(Contract, ContractVersion)
        total = ContractVersion.objects.filter(contract__contract_id__startswith="demo.streaming.").count()
        self.stdout.write(f"demo contracts: {created} created, {total} present")
