"""URLs of the floor: /floor/ (constant reply) and /floor-insert/ (one INSERT, then the reply)."""

from django.urls import path

from bench.floor import views

urlpatterns = [
    path("floor/", views.constant_reply),
    path("floor-insert/", views.insert_and_reply),
    path("floor-group-insert/", views.group_insert_and_reply),
]
