"""No tables: one unmanaged model, so the API Tokens page has an entry (and a
permission) in Django's admin. See :mod:`gatepass.django.admin`."""

from __future__ import annotations

from django.db import models


class ApiToken(models.Model):
    """Stands for the keys of gatepass's own store in the admin; never queried."""

    id = models.CharField(primary_key=True, max_length=64)

    class Meta:
        managed = False
        verbose_name = "API token"
        verbose_name_plural = "API tokens"
        default_permissions = ()
        permissions = [("manage_api_tokens", "Can see and manage every owner's API tokens")]
