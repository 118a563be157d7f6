"""An "API tokens" entry in Django's admin: the API Tokens page in operator
mode (every owner's keys), for staff users with the
``gatepass.manage_api_tokens`` permission (superusers have it). Registered
on ``admin.site`` when ``django.contrib.admin`` and ``gatepass.django`` are
both installed; changes are recorded with the actor ``staff:<username>``."""

from __future__ import annotations

from typing import Any, List, Optional

from django.contrib import admin
from django.http import HttpRequest
from django.urls import URLPattern, path, re_path

from ..manage import Principal
from .manage import manage_view
from .models import ApiToken

PERMISSION = "gatepass.manage_api_tokens"


def operator(request: HttpRequest) -> Optional[Principal]:
    user: Any = request.user
    if not (user.is_active and user.is_staff and user.has_perm(PERMISSION)):
        return None
    return Principal(operator=True, actor=f"staff:{user.get_username()}")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """The page instead of a change list; nothing to add, change or delete
    through Django's own forms."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PERMISSION)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(PERMISSION)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> List[URLPattern]:
        # admin_view: staff login (a redirect to the admin's login page
        # otherwise), Django's CSRF protection, no caching.
        view = self.admin_site.admin_view(manage_view(operator))
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [
            path("", view, {"subpath": ""}, name=name),
            re_path(r"^(?P<subpath>.+)$", view),
        ]
