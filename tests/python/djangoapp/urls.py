from django.urls import path

from . import twilio_views, views

urlpatterns = [
    path("v1/channels/<str:channel_id>/bots", views.bots),
    path("v1/admin", views.admin_async),
    path("v1/any", views.any_scope),
    path("protected/thing", views.protected),
    path("public", views.public),
    path("raises", views.raises),
    path("hooks/standard", views.hook),
    path("hooks/async", views.hook_async),
    path("drf/bots", views.Bots.as_view()),
    path("drf/channel-bots", views.ChannelBots.as_view()),
    path("drf/channels", views.Channels.as_view()),
    path("drf/throttled", views.Throttled.as_view()),
    path("hooks/twilio/sms", twilio_views.twilio_hook),
    path("drf/hooks/twilio", twilio_views.DrfTwilioHook.as_view()),
    path("protected/drf/admin", views.AdminOnly.as_view()),
    path("protected/drf/report", views.admin_report),
    path("protected/drf/open", views.OpenUnderProtected.as_view()),
    path("drf/declared", views.DeclaredWithoutGatepassAuthentication.as_view()),
]
