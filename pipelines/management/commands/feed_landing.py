import json
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.pipelines import Pipeline, SourceFormat

EXIT_USAGE = 2
CURRENCIES = ["EUR", "USD", "GBP", "CHF"]
STATUSES = ["placed", "paid", "shipped", "delivered", "cancelled"]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Drop files of orders (JSON lines) into a pipeline's landing folder, each written under a hidden name "
        "and renamed into place, so the stream never reads half a file. "
        "--bad-ratio R: that share of each file's orders break the output contract (negative amount, unknown "
        "currency); --malformed K: K more lines per file that are not JSON. The same --seed writes the same orders."
    )

    def add_arguments(self, parser):
        parser.add_argument("pipeline", metavar="KEY")
        parser.add_argument("--files", type=positive, default=1, help="how many files (default 1)")
        parser.add_argument("--rows", type=positive, default=10, help="orders per file (default 10)")
        parser.add_argument("--bad-ratio", type=ratio, default=0.0, help="share of orders that break the contract")
        parser.add_argument("--malformed", type=zero_or_more, default=0, help="lines per file that are not JSON")
        parser.add_argument("--seed", type=int, default=None, help="same seed, same orders")

    def handle(self, *args, **options):
        folder = landing_folder(options["pipeline"])
        folder.mkdir(parents=True, exist_ok=True)
        rng = random.Random(options["seed"])
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        rows, malformed = options["rows"], options["malformed"]
        bad = round(rows * options["bad_ratio"])
        for number in range(1, options["files"] + 1):
            path = folder / f"orders-{stamp}-{number:04d}.json"
            write_atomically(path, order_lines(rng, rows, bad, malformed))
            self.stdout.write(
                f"wrote {path}: {rows} orders, {bad} breaking the contract, {malformed} malformed {lines(malformed)}"
            )
        self.stdout.write(
            f"{options['files']} files in {folder}: {options['files'] * rows} orders, "
            f"{options['files'] * bad} bad, {options['files'] * malformed} malformed {lines(options['files'] * malformed)}"
        )


def landing_folder(key):
    pipeline = Pipeline.objects.filter(key=key).first()
    if pipeline is None:
        known = ", ".join(Pipeline.objects.filter(source_format=SourceFormat.JSON).values_list("key", flat=True))
        raise CommandError(f"no pipeline {key!r} (landing pipelines: {known or 'none'})", returncode=EXIT_USAGE)
    if pipeline.source_format != SourceFormat.JSON:
        raise CommandError(
            f"{key} reads a {pipeline.source_format} source; feed_landing writes JSON lines for a json source",
            returncode=EXIT_USAGE,
        )
    location = pipeline.source_location()
    if "://" in location and not location.startswith("file://"):
        raise CommandError(
            f"{key} watches {location}; feed_landing writes to local folders only", returncode=EXIT_USAGE
        )
    return Path(location.removeprefix("file://"))


def order_lines(rng, rows, bad, malformed):
    broken = set(rng.sample(range(rows), bad))
    lines = [json.dumps(order(rng, broken=index in broken)) for index in range(rows)]
    for _ in range(malformed):
        # Half an order: what a producer leaves when it dies mid-write.
        lines.insert(rng.randrange(len(lines) + 1), json.dumps(order(rng, broken=False))[: rng.randrange(5, 30)])
    return lines


def order(rng, broken):
    row = {
        "order_id": f"ord-{rng.getrandbits(48):012x}",
        "amount": round(rng.uniform(1, 500), 2),
        "currency": rng.choice(CURRENCIES),
        "status": rng.choice(STATUSES),
        "ordered_at": (EPOCH + timedelta(seconds=rng.randrange(365 * 86400))).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if broken:
        if rng.random() < 0.5:
            row["amount"] = -row["amount"]
        else:
            row["currency"] = "XXX"
    return row


def write_atomically(path, lines):
    # Spark's file source skips names starting with "." or "_": the stream sees the file only once it is whole.
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w") as out:
        out.write("\n".join(lines) + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def positive(text):
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def zero_or_more(text):
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def ratio(text):
    value = float(text)
    if not 0 <= value <= 1:
        raise ValueError(text)
    return value


def lines(count):
    return "line" if count == 1 else "lines"
