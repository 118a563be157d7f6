from django.urls import include, path

from .method_views import router

urlpatterns = [path("v1/", include(router.urls))]
