"""Django REST framework app for benchmarks/http/run.py, in one module: the
same answer behind no authentication, an authentication class that only
reads the header, and gatepass (``GatepassAuthentication`` + ``HasScopes``,
one scope). Served by gunicorn: ``gunicorn -w 1 -k gthread drf_app:application``;
the store is ``$BENCH_STORE`` (a ``sqlite://`` URL).
"""

from __future__ import annotations

import os
from typing import Any, Optional, Tuple

import django
from django.conf import settings

settings.configure(
    SECRET_KEY="benchmark-only",
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    USE_TZ=True,
    INSTALLED_APPS=[
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "rest_framework",
        "gatepass.django",
    ],
    # As docs/python.md sets DRF up: the middleware adds RateLimit headers.
    MIDDLEWARE=["gatepass.django.middleware.GatepassMiddleware"],
    DATABASES={},
    GATEPASS={"STORE": os.environ["BENCH_STORE"]},
    REST_FRAMEWORK={
        "EXCEPTION_HANDLER": "gatepass.drf.exception_handler",
        "UNAUTHENTICATED_USER": None,
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    },
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework import exceptions, permissions  # noqa: E402
from rest_framework.authentication import BaseAuthentication  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from gatepass.drf import GatepassAuthentication, HasScopes  # noqa: E402


class BearerAuthentication(BaseAuthentication):
    """The header-only check, the DRF way: an authentication class that reads
    ``Authorization`` and keeps the token, checking nothing else."""

    def authenticate(self, request: Request) -> Optional[Tuple[Any, str]]:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Bearer ") or len(header) == len("Bearer "):
            raise exceptions.NotAuthenticated()
        return (None, header[len("Bearer ") :])

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class NoAuth(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request: Request) -> Response:
        return Response({"bots": [], "key": "none"})


class HeaderOnly(APIView):
    authentication_classes = [BearerAuthentication]
    permission_classes = [permissions.AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"bots": [], "key": "header"})


class WithGatepass(APIView):
    authentication_classes = [GatepassAuthentication]
    permission_classes = [HasScopes]
    required_scopes = ["bots:read"]

    def get(self, request: Request) -> Response:
        return Response({"bots": [], "key": request.user.key.id})


urlpatterns = [
    path("none", NoAuth.as_view()),
    path("header", HeaderOnly.as_view()),
    path("gatepass", WithGatepass.as_view()),
]

application = get_wsgi_application()
