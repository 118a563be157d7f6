from django.urls import path

from . import views

urlpatterns = [
    path("health", views.health),
    path("v1/bots", views.bots),
    path("v1/whoami", views.whoami),
    path("hooks/events", views.events),
]
