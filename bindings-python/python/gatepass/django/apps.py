from __future__ import annotations

from django.apps import AppConfig


class GatepassConfig(AppConfig):
    name = "gatepass.django"
    label = "gatepass"
    verbose_name = "gatepass"
    default = True
