from __future__ import annotations

from typing import Any, List

from django.apps import AppConfig, apps
from django.core import checks


class GatepassConfig(AppConfig):
    name = "gatepass.django"
    label = "gatepass"
    verbose_name = "gatepass"
    default = True

    def ready(self) -> None:
        checks.register(check_scopes, checks.Tags.security)


def check_scopes(app_configs: Any = None, **kwargs: Any) -> List[checks.CheckMessage]:
    """``gatepass.E001``: a DRF view asks for a scope the policy's catalogue
    does not know (a typo), found at start-up rather than on a request;
    ``gatepass.W001``: a DRF view's by-method ``required_scopes`` leaves out a
    method it serves, which gatepass therefore refuses."""
    if not apps.is_installed("rest_framework"):
        return []
    from ..drf import check_refused_methods, check_view_scopes

    found: List[checks.CheckMessage] = [
        checks.Error(problem, hint="Fix the scope or add it to the policy's `scopes`.", id="gatepass.E001")
        for problem in check_view_scopes()
    ]
    # gatepass.W001: refusing is the safe answer, but probably not what the
    # view's author meant, so it is reported rather than left to a 403.
    found += [
        checks.Warning(
            problem,
            hint='Name every method the view serves in the dict, or add a "*" entry.',
            id="gatepass.W001",
        )
        for problem in check_refused_methods()
    ]
    return found
