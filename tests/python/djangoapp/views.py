from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from gatepass.django import get_gate, require, webhook
from gatepass.drf import KeyRateThrottle, ReadWriteScopes, required_scopes

WH_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@require(["bots:read"], resource=lambda request, channel_id: f"channel:{channel_id}")
def bots(request, channel_id):
    return JsonResponse({"name": request.gatepass_key.name, "channel": channel_id})


@require("admin or (bots:write and channels:write)")
async def admin_async(request):
    return JsonResponse({"name": request.gatepass_key.name, "async": True})


@require(any_scopes=["channels:read", "admin"])
def any_scope(request):
    return JsonResponse({"name": request.gatepass_key.name})


def protected(request):
    return JsonResponse({"name": request.gatepass_key.name})


def public(request):
    return JsonResponse({"key": request.gatepass_key})


def raises(request):
    get_gate().authenticate(request.META.get("HTTP_AUTHORIZATION"), scopes=["admin"])
    return JsonResponse({"ok": True})


@csrf_exempt
@webhook("standard", secrets=[WH_SECRET])
def hook(request):
    return JsonResponse({"id": request.gatepass_webhook.id})


@csrf_exempt
@webhook("standard", secrets=[WH_SECRET])
async def hook_async(request):
    return JsonResponse({"id": request.gatepass_webhook.id})


class Bots(APIView):
    required_scopes = {"GET": ["bots:read"], "POST": "bots:write and channels:write"}

    def get(self, request):
        return Response({"user": str(request.user), "key": request.auth.key.id, "code": request.auth.code})

    def post(self, request):
        return Response({"created": True}, status=201)


class ChannelBots(APIView):
    required_scopes = ["bots:read"]
    gatepass_resource = "channel:ch_1"

    def get(self, request):
        return Response({"key": request.auth.key.name})


class Channels(APIView):
    permission_classes = [ReadWriteScopes]
    scope_resource = "channels"

    def get(self, request):
        return Response({"read": True})

    def delete(self, request):
        return Response(status=204)


class Throttled(APIView):
    throttle_classes = [KeyRateThrottle]

    def get(self, request):
        return Response({"ok": True})


# PROTECT_PATHS and declared requirements: these views opt out of every
# DRF default that would refuse an anonymous request by itself, so only
# gatepass stands between them and the caller.
class AdminOnly(APIView):
    permission_classes = [AllowAny]
    required_scopes = ["admin"]

    def get(self, request):
        return Response({"secret": "admin data"})


@required_scopes(["admin"])
@api_view(["GET"])
@permission_classes([AllowAny])
def admin_report(request):
    return Response({"secret": "admin report"})


class OpenUnderProtected(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"key": request.gatepass_key.name if request.gatepass_key else None})


class DeclaredWithoutGatepassAuthentication(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    required_scopes = ["admin"]

    def get(self, request):
        return Response({"key": request.gatepass_key.name})
