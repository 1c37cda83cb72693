"""Newest-first pages of a big table without COUNT(*) or OFFSET.

A page link carries the (timestamp, pk) of the row it continues from, so every
page costs one index range scan, page 1 or page 4,000 alike. The cursor condition
repeats the timestamp bound on its own (`field <= t AND (field < t OR pk < p)`):
PostgreSQL cannot start an index range from an OR, and without the plain bound it
walks the index from the newest row down to the cursor, 90,000 rows for a deep page.
"""

from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db.models import Q


def cursor(item, field):
    return f"{getattr(item, field).isoformat()}_{item.pk}"


def parse_cursor(text, pk_field):
    """The (timestamp, pk) a link carries, or None when it is no cursor of this table: the first page then."""
    try:
        stamp, pk = text.split("_", 1)
        moment = datetime.fromisoformat(stamp)
        moment = moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)  # year 1 at +14:00 overflows here
        pk = pk_field.to_python(pk)
        pk_field.run_validators(pk)  # an integer key past the column's range would be a database error
        return moment, pk
    except (AttributeError, ValueError, OverflowError, ValidationError):
        return None


class KeysetPage:
    def __init__(self, queryset, field, params, size):
        self.params = params
        self.field = field
        self.has_newer = self.has_older = False
        pk_field = queryset.model._meta.pk
        before, after = parse_cursor(params.get("before"), pk_field), parse_cursor(params.get("after"), pk_field)
        items = []
        if after:
            newer = Q(**{f"{field}__gte": after[0]}) & (
                Q(**{f"{field}__gt": after[0]}) | Q(**{field: after[0], "pk__gt": after[1]})
            )
            items = list(queryset.filter(newer).order_by(field, "pk")[: size + 1])
            self.has_newer, self.has_older = len(items) > size, True
            items = items[:size][::-1]
        elif before:
            older = Q(**{f"{field}__lte": before[0]}) & (
                Q(**{f"{field}__lt": before[0]}) | Q(**{field: before[0], "pk__lt": before[1]})
            )
            items = list(queryset.filter(older).order_by(f"-{field}", "-pk")[: size + 1])
            self.has_newer, self.has_older = True, len(items) > size
            items = items[:size]
        if not items:  # the first page, or a cursor that leads nowhere
            items = list(queryset.order_by(f"-{field}", "-pk")[: size + 1])
            self.has_newer, self.has_older = False, len(items) > size
            items = items[:size]
        self.items = items

    def link(self, **cursor_param):
        query = self.params.copy()
        for key in ("before", "after", "page"):
            query.pop(key, None)
        query.update(cursor_param)
        return "?" + query.urlencode()

    @property
    def older_link(self):
        return self.link(before=cursor(self.items[-1], self.field)) if self.has_older and self.items else ""

    @property
    def newer_link(self):
        return self.link(after=cursor(self.items[0], self.field)) if self.has_newer and self.items else ""

    @property
    def newest_link(self):
        return self.link()
