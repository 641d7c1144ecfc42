"""The floor's one table: a received message, written with exactly one INSERT."""

from django.db import models


class FloorMessage(models.Model):
    """A message as the floor stores it: the raw body and when it arrived."""

    raw_xml = models.TextField()
    received_at = models.DateTimeField()

    def __str__(self):
        return f"floor message {self.pk}"
