from django.contrib import admin
from django.contrib.auth import get_user_model, login
from django.http import HttpResponse, JsonResponse
from django.urls import include, path

import gatepass
from gatepass.django import require
from gatepass.django.manage import manage_urls


def principal(request):
    if not request.user.is_authenticated:
        return None
    name = request.user.get_username()
    return gatepass.Principal(owner=name, actor=f"user:{name}")


def login_as(request, username):
    """Stands for the app's login form: a real session for that user."""
    login(request, get_user_model().objects.get(username=username))
    return HttpResponse("ok")


@require(["bots:read"])
def bots(request):
    return JsonResponse({"owner": request.gatepass_key.subject})


@require()
def any_key(request):
    return JsonResponse({"ok": True})


urlpatterns = [
    path("login/<str:username>", login_as),
    path("v1/bots", bots),
    path("v1/any-key", any_key),
    path("tokens/", include(manage_urls(principal=principal))),
    path("admin/", admin.site.urls),
]
