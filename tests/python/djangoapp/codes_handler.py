"""An app's own DRF exception handler, the common kind: DRF's answer, plus the
exception's ``get_codes()`` in the body."""

from rest_framework.views import exception_handler as drf_exception_handler


def with_codes(exc, context):
    response = drf_exception_handler(exc, context)
    if response is not None and hasattr(exc, "get_codes"):
        response.data = {"detail": response.data.get("detail"), "codes": exc.get_codes()}
    return response
