"""DRF views whose ``required_scopes`` is a dict by HTTP method, routed the way
docs/python.md shows them (a viewset under a router)."""

from rest_framework import routers, viewsets
from rest_framework.response import Response


class BotViewSet(viewsets.ViewSet):
    # As documented: GET and POST named, PUT/PATCH/DELETE left out.
    required_scopes = {"GET": ["bots:read"], "POST": ["bots:write"]}

    def list(self, request):
        return Response([{"id": "b1"}])

    def create(self, request):
        return Response({"id": "b2"}, status=201)

    def retrieve(self, request, pk=None):
        return Response({"id": pk})

    def update(self, request, pk=None):
        return Response({"id": pk, "updated": True})

    def partial_update(self, request, pk=None):
        return Response({"id": pk, "updated": True})

    def destroy(self, request, pk=None):
        return Response(status=204)


class StarBotViewSet(BotViewSet):
    # "*" covers every method the dict does not name; lower-case names count.
    required_scopes = {"get": ["bots:read"], "*": ["bots:admin"]}


router = routers.SimpleRouter()
router.register("bots", BotViewSet, basename="bot")
router.register("star-bots", StarBotViewSet, basename="star-bot")
