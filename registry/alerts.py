"""Alerts that reach the owners: a listener of the run event log, an outbox, and its sender.

Why a module of this size: the three parts share one promise, "nothing heard is lost, nothing
is heard twice", and it is kept by how they fit together:
- `on_event` is called by `Run.append_event` inside the transaction that appends the event. A
  status transition opens (or changes, or resolves) an `Alert` and writes one `Delivery` per
  destination in that same transaction: the outbox exists iff the event does.
- An alert is a condition of a pipeline (its runs' status went warn, blocked or failed) that lasts
  until it is resolved, so a transition is notified once, not once per batch; while it stays open
  and nobody acknowledged it, it is notified again every DC43_ALERT_RENOTIFY_SECONDS.
- The sender (a thread of the serving process, or `manage.py send_alerts`) claims due deliveries
  with a lease, POSTs them with an HMAC signature and an idempotency key that stays the same across
  retries, and retries with capped exponential backoff. A sender that dies mid-delivery leaves the
  lease to expire and another sender delivers; the receiver drops the duplicate by its key.
Knows no Spark; docs/alerts.md is the operator's side of it.
"""

import hashlib
import hmac
import json
import logging
import threading
import urllib.error
import urllib.request
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, close_old_connections, connections, models, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from contracts.models import Contract
from registry.models import Dataset, EventKind, Run
from registry.pipelines import Pipeline

logger = logging.getLogger("dc43.alerts")

SIGNATURE_HEADER = "X-Dc43-Signature"
IDEMPOTENCY_HEADER = "X-Dc43-Idempotency-Key"
# A claimed delivery is someone's for this long beyond its HTTP timeout; after it, another sender may take it.
LEASE_SLACK_SECONDS = 30
CLAIM_BATCH = 50


class Transition(models.TextChoices):
    """What a subscription can listen for."""

    WARN = "warn", "status becomes warn"
    BLOCKED = "blocked", "status becomes blocked"
    FAILED = "failed", "status becomes failed"
    OK = "ok", "back to ok"
    # An SLA breach is raised by whoever records it (`raise_alert`); an anomaly comes from its event.
    SLA_BREACH = "sla_breach", "SLA breach"
    ANOMALY = "anomaly", "anomaly flag"


STATUS_TRANSITIONS = [Transition.WARN, Transition.BLOCKED, Transition.FAILED, Transition.OK]


class Condition(models.TextChoices):
    """What an alert is about: a pipeline has one unresolved alert per condition at most."""

    STATUS = "status"
    SLA_BREACH = "sla_breach"
    ANOMALY = "anomaly"


def condition_of(transition):
    return Condition.STATUS if transition in STATUS_TRANSITIONS else Condition(transition)


class AlertState(models.TextChoices):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Notification(models.TextChoices):
    """Why a delivery was written: the receiver sees it as `notification` in the payload."""

    OPENED = "opened"
    CHANGED = "changed"
    RENOTIFY = "renotify"
    RESOLVED = "resolved"


def transition_of(event):
    """The transition an event of the log makes, or None: most events make none."""
    status = event.payload.get("status")
    if event.kind == EventKind.BATCH:
        return {"warn": Transition.WARN, "block": Transition.BLOCKED}.get(status)
    if event.kind == EventKind.COMPLETE and status in (Transition.WARN, Transition.BLOCKED, Transition.FAILED):
        return Transition(status)
    if event.kind == EventKind.COMPLETE and status == Transition.OK:
        return Transition.OK
    if event.kind == EventKind.ANOMALY:
        return Transition.ANOMALY
    return None


def detail_of(run, event):
    """What the alert says about its cause: the run's reason at its end, the value and band of an anomaly."""
    if event.kind == EventKind.COMPLETE:
        return run.reason
    if event.kind == EventKind.ANOMALY:
        p = event.payload
        watched = " ".join(part for part in (p.get("metric"), p.get("rule"), p.get("column")) if part)
        return (
            f"{watched} = {p.get('value')} outside [{p.get('lower')}, {p.get('upper')}] "
            f"({p.get('strategy')}, batch {p.get('batch_id')})"
        )
    return ""


def on_event(run, event):
    """The event log's listener, called by `Run.append_event` in its transaction: keep it cheap for ok batches."""
    transition = transition_of(event)
    if transition is None:
        return
    # Read again: the runner sets fields such as the contract version through querysets, not on this object.
    run = Run.objects.select_related("contract_version__contract").get(pk=run.pk)
    if transition == Transition.OK:
        recover(run)
    else:
        raise_alert(run, transition, detail_of(run, event))


def raise_alert(run, transition, detail=""):
    """Open the alert of `run`'s pipeline for this condition, or change its level; nothing when it is already at it.

    Call inside the transaction that records what caused it. Returns the alert, or None when nothing changed.
    """
    condition = condition_of(transition)
    unresolved = Alert.objects.select_for_update().filter(pipeline_key=run.scenario, condition=condition)
    alert = unresolved.exclude(state=AlertState.RESOLVED).first()
    if alert is None:
        try:
            with transaction.atomic():  # a savepoint: losing a race must not spoil the run's transaction
                alert = Alert.objects.create(
                    pipeline_key=run.scenario,
                    condition=condition,
                    level=transition,
                    run=run,
                    last_run=run,
                    contract_id=run.contract_version.contract_id if run.contract_version_id else None,
                    detail=detail,
                )
        except IntegrityError:
            return raise_alert(run, transition, detail)
        alert.notify(Notification.OPENED, run)
        return alert
    if alert.level == transition:
        return None
    alert.level, alert.last_run, alert.detail = transition, run, detail or alert.detail
    alert.save(update_fields=["level", "last_run", "detail"])
    alert.notify(Notification.CHANGED, run)
    return alert


def recover(run):
    """A run of the pipeline ended ok: its status alert resolves itself, and says so to those who listen for ok."""
    alert = (
        Alert.objects.select_for_update()
        .filter(pipeline_key=run.scenario, condition=Condition.STATUS)
        .exclude(state=AlertState.RESOLVED)
        .first()
    )
    if alert is not None:
        alert.resolve(how=f"run {run.pk} ended ok", run=run)


class Destination(models.Model):
    name = models.CharField(max_length=200)
    url = models.URLField(max_length=1000, help_text="Receives a JSON POST per notification (http or https).")
    secret = models.CharField(
        max_length=200, blank=True, help_text="Signs each body with HMAC-SHA256 (see docs/alerts.md); never shown back."
    )
    enabled = models.BooleanField(default=True)
    contract = models.ForeignKey(
        Contract,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Set when the destination is a `support` channel of this contract (scope: notifications).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "url"], condition=Q(contract__isnull=False), name="one_destination_per_channel"
            )
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if not self.url.lower().startswith(("http://", "https://")):
            raise ValidationError({"url": "a destination is an http:// or https:// URL"})

    def sign(self, body):
        """The signature header's value for `body` (bytes), or None without a secret."""
        if not self.secret:
            return None
        return "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()


def default_transitions():
    return list(STATUS_TRANSITIONS)


class Subscription(models.Model):
    """Which runs a destination hears about, and on which transitions.

    With no pipeline, dataset or contract chosen it watches every run; otherwise a run that
    matches any one of them (its pipeline, a contract it was checked against, a dataset of
    such a contract).
    """

    name = models.CharField(max_length=200)
    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="subscriptions")
    pipelines = models.ManyToManyField(Pipeline, blank=True, related_name="+")
    datasets = models.ManyToManyField(Dataset, blank=True, related_name="+")
    contracts = models.ManyToManyField(Contract, blank=True, related_name="+")
    transitions = models.JSONField(default=default_transitions, help_text="Transition kinds it listens for.")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        unknown = set(self.transitions or []) - set(Transition.values)
        if not isinstance(self.transitions, list) or unknown:
            raise ValidationError({"transitions": f"a list of: {', '.join(Transition.values)}"})

    def watches(self, facts, transition):
        if transition not in self.transitions:
            return False
        chosen = (
            {p.key for p in self.pipelines.all()},
            {c.contract_id for c in self.contracts.all()},
            {d.name for d in self.datasets.all()},
        )
        if not any(chosen):
            return True
        return bool(chosen[0] & facts["pipelines"] or chosen[1] & facts["contracts"] or chosen[2] & facts["datasets"])


def facts_of(run):
    """The names a subscription may choose a run by: its pipeline, its contracts, and their datasets."""
    contracts = set()
    if run.contract_version_id:
        contracts.add(run.contract_version.contract.contract_id)
    pipeline = Pipeline.objects.filter(key=run.scenario).first()
    if pipeline is not None:
        refs = (pipeline.input_contract, pipeline.output_contract, pipeline.rejects_contract)
        contracts |= {ref.split("@")[0] for ref in refs if ref}
    datasets = set(Dataset.objects.filter(contract__contract_id__in=contracts).values_list("name", flat=True))
    return {"pipelines": {run.scenario}, "contracts": contracts, "datasets": datasets}


def contract_channels(run):
    """The destinations a run's contract names itself: ODCS `support` items with scope notifications and an http(s) url."""
    if not run.contract_version_id:
        return []
    version = run.contract_version
    found = []
    for channel in version.document.get("support") or []:
        if not isinstance(channel, dict) or channel.get("scope") != "notifications":
            continue
        url = channel.get("url")
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            continue
        destination, _ = Destination.objects.get_or_create(
            contract_id=version.contract_id,
            url=url,
            defaults={"name": f"{version.contract.contract_id} support: {channel.get('channel') or url}"[:200]},
        )
        found.append(destination)
    return found


def destinations_for(run, transition):
    """Every enabled destination that listens for this transition of this run, each once."""
    facts = facts_of(run)
    subscriptions = Subscription.objects.filter(enabled=True, destination__enabled=True).select_related("destination")
    chosen = {
        s.destination
        for s in subscriptions.prefetch_related("pipelines", "contracts", "datasets")
        if s.watches(facts, transition)
    }
    if transition in STATUS_TRANSITIONS:
        chosen |= {d for d in contract_channels(run) if d.enabled}
    return sorted(chosen, key=lambda d: d.pk)


def site_url(path):
    return settings.DC43_SITE_URL.rstrip("/") + path


class AlertQuerySet(models.QuerySet):
    def unresolved(self):
        return self.exclude(state=AlertState.RESOLVED)

    def renotify_due(self, now):
        """Open alerts nobody acknowledged, last notified a re-notify interval ago."""
        every = settings.DC43_ALERT_RENOTIFY_SECONDS
        if not every:
            return self.none()
        return self.filter(state=AlertState.OPEN, notified_at__lte=now - timedelta(seconds=every))


class Alert(models.Model):
    pipeline_key = models.CharField(max_length=64, help_text="The pipeline (scenario) whose runs raised it.")
    condition = models.CharField(max_length=16, choices=Condition.choices, default=Condition.STATUS)
    level = models.CharField(max_length=16, choices=Transition.choices, help_text="The transition it is at now.")
    state = models.CharField(max_length=16, choices=AlertState.choices, default=AlertState.OPEN)
    detail = models.TextField(blank=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="alerts", help_text="The run that opened it.")
    last_run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="+", help_text="The latest run it is about."
    )
    contract = models.ForeignKey(Contract, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    opened_at = models.DateTimeField(default=timezone.now)
    notified_at = models.DateTimeField(default=timezone.now, help_text="When its latest notification was written.")
    notifications = models.PositiveIntegerField(default=0)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when a run that ended ok resolved it.",
    )
    resolution = models.CharField(max_length=300, blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at"]
        permissions = [("handle_alert", "Can acknowledge and resolve alerts")]
        constraints = [
            # A transition is alerted once: while an alert is unresolved, its pipeline's later runs update it.
            models.UniqueConstraint(
                fields=["pipeline_key", "condition"], condition=~Q(state="resolved"), name="one_unresolved_alert"
            )
        ]
        indexes = [models.Index(fields=["state", "-opened_at"], name="alert_state_opened")]

    def __str__(self):
        return f"{self.pipeline_key} {self.level} ({self.state})"

    def get_absolute_url(self):
        return reverse("alert-list") + f"#alert-{self.pk}"

    @property
    def time_to_acknowledge(self):
        return self.acknowledged_at - self.opened_at if self.acknowledged_at else None

    @property
    def time_to_resolve(self):
        return self.resolved_at - self.opened_at if self.resolved_at else None

    def notify(self, notification, run, transition=None):
        """Write one delivery per listening destination, in the caller's transaction; the sender is woken after commit."""
        transition = transition or self.level
        self.notifications += 1
        self.notified_at = timezone.now()
        Alert.objects.filter(pk=self.pk).update(notifications=self.notifications, notified_at=self.notified_at)
        payload = self.payload(notification, transition, run)
        deliveries = [
            Delivery(
                alert=self,
                destination=destination,
                notification=notification,
                key=f"dc43-alert-{self.pk}-{self.notifications}-{destination.pk}",
                payload=payload,
            )
            for destination in destinations_for(run, transition)
        ]
        Delivery.objects.bulk_create(deliveries)
        if deliveries:
            transaction.on_commit(wake_sender)
        return deliveries

    def payload(self, notification, transition, run):
        """The JSON a receiver gets (docs/alerts.md shows it); the same bytes on every retry."""
        return {
            "type": "dc43.alert",
            "version": 1,
            "notification": notification,
            "transition": transition,
            "alert": {
                "id": self.pk,
                "url": site_url(self.get_absolute_url()),
                "pipeline": self.pipeline_key,
                "condition": self.condition,
                "level": self.level,
                "state": self.state,
                "detail": self.detail,
                "opened_at": self.opened_at.isoformat(),
                "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
                "resolution": self.resolution,
            },
            "run": {
                "id": str(run.pk),
                "url": site_url(run.get_absolute_url()),
                "pipeline": run.scenario,
                "status": run.status,
                "reason": run.reason,
                "started_at": run.started_at.isoformat(),
                "contract": str(run.contract_version) if run.contract_version_id else None,
            },
        }

    def acknowledge(self, user):
        """Someone is on it: it is no longer re-notified. False when it was not open."""
        with transaction.atomic():
            now = timezone.now()
            done = Alert.objects.filter(pk=self.pk, state=AlertState.OPEN).update(
                state=AlertState.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=user
            )
        self.refresh_from_db()
        return bool(done)

    def resolve(self, user=None, how="", run=None):
        """Close it, by hand (`user`) or because `run` ended ok; those listening for ok hear of it. False when it was resolved."""
        with transaction.atomic():
            locked = Alert.objects.select_for_update().get(pk=self.pk)
            if locked.state == AlertState.RESOLVED:
                self.refresh_from_db()
                return False
            self.state, self.resolved_at, self.resolved_by = AlertState.RESOLVED, timezone.now(), user
            self.resolution = (how or (f"by hand, by {user.get_username()}" if user else "by hand"))[:300]
            Alert.objects.filter(pk=self.pk).update(
                state=self.state, resolved_at=self.resolved_at, resolved_by=user, resolution=self.resolution
            )
            self.notify(Notification.RESOLVED, run or self.last_run, Transition.OK)
        return True


def backoff(attempts):
    """Seconds before retry number `attempts` + 1: doubling from DC43_ALERT_RETRY_SECONDS, capped."""
    first, cap = settings.DC43_ALERT_RETRY_SECONDS, settings.DC43_ALERT_RETRY_MAX_SECONDS
    return min(cap, first * 2 ** max(0, attempts - 1))


class DeliveryQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(delivered_at__isnull=True, gave_up_at__isnull=True)

    def due(self, now):
        return self.pending().filter(next_attempt_at__lte=now)


class Delivery(models.Model):
    """The outbox: one notification of an alert to one destination, until it is accepted or given up."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="deliveries")
    notification = models.CharField(max_length=16, choices=Notification.choices)
    key = models.CharField(max_length=100, unique=True, help_text="The idempotency key: the same on every retry.")
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    gave_up_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True, help_text="The receiver's last HTTP status.")
    last_error = models.TextField(blank=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(delivered_at__isnull=True, gave_up_at__isnull=True),
                name="delivery_pending",
            )
        ]

    def __str__(self):
        return self.key

    def body(self):
        return json.dumps({**self.payload, "idempotency_key": self.key}, sort_keys=True).encode()

    def attempt(self):
        """POST it once (it was claimed), and record the outcome; True when the receiver accepted it."""
        try:
            status = post(self.destination, self.body(), self.key)
            error = "" if 200 <= status < 300 else f"HTTP {status}"
        except OSError as exc:  # refused, timed out, unreachable, TLS: all retried
            status, error = None, f"{type(exc).__name__}: {exc}"[:2000]
        now = timezone.now()
        if not error:
            Delivery.objects.filter(pk=self.pk).update(delivered_at=now, last_status=status, last_error="")
            return True
        changes = {"last_status": status, "last_error": error}
        if self.attempts >= settings.DC43_ALERT_MAX_ATTEMPTS:
            changes["gave_up_at"] = now
            logger.warning(
                "gave up delivering %s to %s after %s attempts: %s", self.key, self.destination, self.attempts, error
            )
        else:
            changes["next_attempt_at"] = now + timedelta(seconds=backoff(self.attempts))
        Delivery.objects.filter(pk=self.pk).update(**changes)
        return False


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirected POST would be replayed as a GET without its body: a redirect is a failed delivery.
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(destination, body, key):
    """POST `body` to the destination; its HTTP status (an error status is returned, not raised)."""
    headers = {"Content-Type": "application/json", "User-Agent": "dc43-alerts/1", IDEMPOTENCY_HEADER: key}
    signature = destination.sign(body)
    if signature:
        headers[SIGNATURE_HEADER] = signature
    request = urllib.request.Request(destination.url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=settings.DC43_ALERT_TIMEOUT_SECONDS) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def claim(now, limit=CLAIM_BATCH):
    """Take due deliveries for this sender: a lease pushes them out of the others' reach (SKIP LOCKED meanwhile)."""
    lease = now + timedelta(seconds=settings.DC43_ALERT_TIMEOUT_SECONDS + LEASE_SLACK_SECONDS)
    with transaction.atomic():
        due = Delivery.objects.due(now).select_for_update(skip_locked=True, of=("self",)).order_by("next_attempt_at")
        ids = list(due.values_list("pk", flat=True)[:limit])
        Delivery.objects.filter(pk__in=ids).update(next_attempt_at=lease, attempts=F("attempts") + 1)
    return list(Delivery.objects.filter(pk__in=ids).select_related("destination").order_by("created_at"))


def renotify(now):
    """Write the re-notifications that are due; how many alerts were notified again."""
    with transaction.atomic():
        alerts = list(Alert.objects.renotify_due(now).select_for_update(skip_locked=True).select_related("last_run"))
        for alert in alerts:
            alert.notify(Notification.RENOTIFY, alert.last_run)
    return len(alerts)


def send_due():
    """One pass of a sender: re-notifications, then every due delivery. Returns (accepted, failed)."""
    now = timezone.now()
    renotify(now)
    accepted = failed = 0
    # Due at the pass's start: a delivery that fails now waits for a later pass, whatever its backoff.
    while batch := claim(now):
        for delivery in batch:
            if delivery.attempt():
                accepted += 1
            else:
                failed += 1
    return accepted, failed


class Sender(threading.Thread):
    """Delivers the outbox from a serving (or worker) process: every `every` seconds, and at once when woken."""

    def __init__(self, every):
        super().__init__(name="dc43-alerts", daemon=True)
        self.every = every
        self.woken = threading.Event()
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            self.woken.clear()
            close_old_connections()  # a connection the database dropped since the last pass
            try:
                send_due()
            except Exception:
                # The database may be away for a moment: the outbox keeps everything until the next pass.
                logger.warning("alert sender pass failed; the outbox is retried on the next pass", exc_info=True)
            self.woken.wait(self.every)
        connections.close_all()

    def stop(self):
        self.stopping.set()
        self.woken.set()
        self.join(settings.DC43_ALERT_TIMEOUT_SECONDS * CLAIM_BATCH + 5)


_sender = None
_sender_lock = threading.Lock()


def start_sender(every=None):
    """Start this process's sender thread once (a second call returns the running one)."""
    global _sender
    with _sender_lock:
        if _sender is None or not _sender.is_alive():
            _sender = Sender(every or settings.DC43_ALERT_SEND_SECONDS)
            _sender.start()
        return _sender


def stop_sender():
    global _sender
    with _sender_lock:
        sender, _sender = _sender, None
    if sender is not None:
        sender.stop()


def wake_sender():
    """After a commit that wrote deliveries: this process's sender goes at once instead of at its next pass."""
    sender = _sender
    if sender is not None:
        sender.woken.set()
