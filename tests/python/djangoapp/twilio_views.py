"""Twilio webhooks with an explicit public base URL (never the Host header)."""

from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response
from rest_framework.views import APIView

from gatepass.django import webhook

TWILIO_TOKEN = "twilio-auth-token-for-tests"
TWILIO_BASE = "https://hooks.example.com"


@csrf_exempt
@webhook("twilio", secrets=[TWILIO_TOKEN], base_url=TWILIO_BASE)
def twilio_hook(request):
    return JsonResponse({"ok": True})


@method_decorator(webhook("twilio", secrets=[TWILIO_TOKEN], base_url=TWILIO_BASE), name="post")
class DrfTwilioHook(APIView):
    authentication_classes = []
    permission_classes = []

    def post(self, request):
        return Response({"ok": True})
