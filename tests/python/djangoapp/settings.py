SECRET_KEY = "tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "djangoapp.urls"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "gatepass.django",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "gatepass.django.middleware.GatepassMiddleware",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
GATEPASS = {"STORE": "memory://", "PROTECT_PATHS": ["/protected/"]}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["gatepass.drf.GatepassAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["gatepass.drf.HasScopes"],
    "EXCEPTION_HANDLER": "gatepass.drf.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
