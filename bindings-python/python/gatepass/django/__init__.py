"""Django integration.

``settings.py``::

    INSTALLED_APPS = [..., "gatepass.django"]          # management commands
    MIDDLEWARE = [..., "gatepass.django.middleware.GatepassMiddleware"]
    GATEPASS = {
        "STORE": "sqlite:////var/lib/app/gatepass.db",  # default $GATEPASS_STORE, else sqlite:///gatepass.db
        "POLICY": BASE_DIR / "gatepass.toml",           # dict, TOML text or path
        "PROTECT_PATHS": ["/api/"],                     # middleware requires a valid key under these
    }

Views::

    from gatepass.django import require, webhook

    @require("bots:read")                   # list = all of, string = expression
    def bots(request):
        return JsonResponse({"owner": request.gatepass_key.subject})

    @csrf_exempt
    @webhook("stripe", secrets=[settings.STRIPE_WEBHOOK_SECRET])
    def stripe_hook(request): ...

Both decorators work on sync and async views. Management commands:
``gatepass_issue``, ``gatepass_list``, ``gatepass_show``, ``gatepass_rotate``,
``gatepass_revoke``, ``gatepass_deactivate``, ``gatepass_activate``,
``gatepass_delete``, ``gatepass_verify``.
"""

from __future__ import annotations

from .conf import get_gate, reset_gate
from .decorators import meta_subscription, require, webhook
from .responses import problem_response

__all__ = ["get_gate", "reset_gate", "require", "webhook", "meta_subscription", "problem_response"]
