"""The routes of tests/python/test_http_answers.py, as Django and DRF views."""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response
from rest_framework.views import APIView

from gatepass.django import require, webhook

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SHARED_TOKEN = "landbot-shared-token-0123456789"


def ok(request):
    return JsonResponse({"ok": True})


class Limited(APIView):
    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("hooks/standard", csrf_exempt(webhook("standard", secrets=[SECRET])(ok))),
    path("hooks/replay", csrf_exempt(webhook("standard", secrets=[SECRET], replay_guard=True)(ok))),
    path("hooks/token", csrf_exempt(webhook("token", secrets=[SHARED_TOKEN])(ok))),
    path("limited", require()(ok)),
    path("drf/limited", Limited.as_view()),
]
