"""Alerts in the admin: destinations and subscriptions are edited; alerts and deliveries are evidence, with actions.

A destination's secret is write-only here: the form never renders it, and leaving it empty keeps it.
"""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from registry.admin import ReadOnlyAdmin
from registry.alerts import Alert, Delivery, Destination, Subscription, Transition


class DestinationForm(forms.ModelForm):
    url = forms.URLField(max_length=1000, assume_scheme="https", help_text=Destination._meta.get_field("url").help_text)
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Signs each body with HMAC-SHA256 (docs/alerts.md). Stored, never shown: leave empty to keep it.",
    )
    clear_secret = forms.BooleanField(required=False, help_text="Remove the secret: deliveries go unsigned.")

    class Meta:
        model = Destination
        fields = ["name", "url", "enabled", "secret", "clear_secret"]

    def clean_secret(self):
        typed = self.cleaned_data["secret"]
        return typed or (self.instance.secret if self.instance.pk else "")

    def save(self, commit=True):
        if self.cleaned_data.get("clear_secret"):
            self.instance.secret = ""
        return super().save(commit)


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    form = DestinationForm
    list_display = ["name", "url", "enabled", "signed", "contract"]
    list_filter = ["enabled"]
    search_fields = ["name", "url"]
    readonly_fields = ["contract"]

    @admin.display(boolean=True, description="Signed")
    def signed(self, destination):
        return bool(destination.secret)


class SubscriptionForm(forms.ModelForm):
    transitions = forms.MultipleChoiceField(
        choices=Transition.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="SLA breach and anomaly flag are raised by the quality history, when it reports them.",
    )

    class Meta:
        model = Subscription
        fields = ["name", "destination", "enabled", "transitions", "pipelines", "datasets", "contracts"]
        help_texts = {"pipelines": "Choose none of pipelines, datasets and contracts to watch every run."}


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ["name", "destination", "enabled", "listens_for"]
    list_filter = ["enabled", "destination"]
    filter_horizontal = ["pipelines", "datasets", "contracts"]

    @admin.display(description="Transitions")
    def listens_for(self, subscription):
        return ", ".join(subscription.transitions)


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = [
        "notification",
        "destination",
        "key",
        "attempts",
        "delivered_at",
        "next_attempt_at",
        "gave_up_at",
        "last_error",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["opened_at", "pipeline_key", "condition", "level", "state", "acknowledged_by", "resolved_at"]
    list_filter = ["state", "level", "condition", "pipeline_key"]
    search_fields = ["pipeline_key", "run__id", "detail"]
    list_select_related = ["acknowledged_by"]
    inlines = [DeliveryInline]
    actions = ["acknowledge", "resolve"]

    def has_handle_permission(self, request):
        return request.user.has_perm("registry.handle_alert")

    @admin.action(description="Acknowledge (no more re-notifications)", permissions=["handle"])
    def acknowledge(self, request, queryset):
        done = sum(alert.acknowledge(request.user) for alert in queryset)
        self.message_user(request, f"{done} alert(s) acknowledged.")

    @admin.action(description="Resolve by hand", permissions=["handle"])
    def resolve(self, request, queryset):
        done = sum(alert.resolve(request.user) for alert in queryset)
        self.message_user(request, f"{done} alert(s) resolved.")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "key", "destination", "notification", "attempts", "delivered_at", "gave_up_at"]
    list_filter = ["notification", "destination"]
    search_fields = ["key"]
    list_select_related = ["destination"]
    actions = ["retry_now"]

    def has_retry_permission(self, request):
        return request.user.has_perm("registry.handle_alert")

    @admin.action(description="Retry now (also those given up)", permissions=["retry"])
    def retry_now(self, request, queryset):
        count = queryset.filter(delivered_at__isnull=True).update(
            next_attempt_at=timezone.now(), gave_up_at=None, attempts=0
        )
        self.message_user(request, f"{count} delivery(ies) due now.", messages.SUCCESS)
