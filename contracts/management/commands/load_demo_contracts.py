from django.core.management.base import BaseCommand

from contracts.demo import demo_contracts, load_demo_contracts
from contracts.models import Contract, ContractVersion


class Command(BaseCommand):
    help = "Load the demo contracts (the three demo.streaming.* and the three shop.*, version 0.1.0) where missing."

    def handle(self, *args, **options):
        created = load_demo_contracts(Contract, ContractVersion)
        ids = [parsed.contract_id for parsed in demo_contracts()]
        total = ContractVersion.objects.filter(contract__contract_id__in=ids).count()
        self.stdout.write(f"demo contracts: {created} created, {total} present")
