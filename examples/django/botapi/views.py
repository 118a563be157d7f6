import json

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from gatepass.django import require, webhook

BOTS = [{"id": "bot_1", "name": "Support bot"}]


@require_GET
def health(request):
    return JsonResponse({"ok": True})


@require_GET
@require("bots:read")
def bots(request):
    key = request.gatepass_key
    return JsonResponse({"bots": BOTS, "key": {"id": key.id, "name": key.name}})


@require_GET
def whoami(request):
    # No @require: the middleware's PROTECT_PATHS still demands a valid key.
    return JsonResponse({"key": request.gatepass_key.id, "scopes": request.gatepass_key.scopes})


@csrf_exempt
@require_POST
@webhook("standard", secrets=[settings.WEBHOOK_SECRET])
def events(request):
    return JsonResponse({"received": request.gatepass_webhook.id, "event": json.loads(request.body or b"null")})
