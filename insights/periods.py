"""The periods the insight pages show: whole local days, in the project's TIME_ZONE.

One home for turning "the last 30 days" or "from 1 to 3 January" into the UTC moments the
rollups are read between; the reports, the rollup job (which keeps the standard periods'
unanswered queries) and the pages all use it.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone


@dataclass(frozen=True)
class Period:
    """Whole local days: from `since` (local midnight, inclusive) to `until` (exclusive)."""

    since: datetime
    until: datetime

    @classmethod
    def between(cls, first: date, last: date) -> "Period":
        """Return the period from the start of local day `first` to the end of day `last`."""
        tz = timezone.get_default_timezone()
        since = datetime.combine(first, time.min, tzinfo=tz)
        until = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
        return cls(since=since, until=until)

    @classmethod
    def last_days(cls, days: int, *, now: datetime | None = None) -> "Period":
        """Return the last `days` local days, today included."""
        today = timezone.localdate(now or timezone.now(), timezone.get_default_timezone())
        return cls.between(today - timedelta(days=days - 1), today)

    @property
    def days(self) -> list[date]:
        return local_days(since=self.since, until=self.until)


def local_days(*, since: datetime, until: datetime) -> list[date]:
    """Return every local date from the one `since` falls on to the one just before `until`."""
    tz = timezone.get_default_timezone()
    first = timezone.localtime(since, tz).date()
    last = timezone.localtime(until - timedelta(microseconds=1), tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """Return the UTC-comparable start and end (exclusive) of local day `day`."""
    period = Period.between(day, day)
    return period.since, period.until
