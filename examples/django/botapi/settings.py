import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "botapi.urls"
USE_TZ = True
INSTALLED_APPS = ["gatepass.django"]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "gatepass.django.middleware.GatepassMiddleware",
]
DATABASES = {}
GATEPASS = {
    "STORE": os.environ.get("GATEPASS_STORE", "sqlite:///gatepass.db"),
    # Every view under /v1/ needs a valid key; @require adds scopes.
    "PROTECT_PATHS": ["/v1/"],
}
WEBHOOK_SECRET = os.environ.get("GATEPASS_WEBHOOK_SECRET") or "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
