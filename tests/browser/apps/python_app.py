"""A host app for the browser tests, in Flask, Django or FastAPI:

    python python_app.py flask|django|fastapi STORE_URL

Each mounts the API Tokens page at /tokens/ with the framework's gatepass
mount, guards GET /protected with the framework's own gatepass helper, and
has the simplest login there is: GET /login?user=NAME sets a cookie that
the principal callable reads (owner NAME, actor user:NAME). It prints its
base URL once it listens.
"""

from __future__ import annotations

import socket
import sys
from typing import Optional

import gatepass

LOGIN_COOKIE = "demo_user"


def owner_principal(user: Optional[str]) -> Optional[gatepass.Principal]:
    if not user:
        return None
    return gatepass.Principal(owner=user, actor=f"user:{user}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def announce(port: int) -> None:
    print(f"http://127.0.0.1:{port}", flush=True)


def flask_app(store: str):
    from flask import Flask, redirect, request

    from gatepass.flask import Gatepass, manage_blueprint

    app = Flask(__name__)
    app.config["GATEPASS_STORE"] = store
    gp = Gatepass(app)

    @app.get("/login")
    def login():
        response = redirect("/tokens/")
        response.set_cookie(LOGIN_COOKIE, request.args["user"], httponly=True, samesite="Lax")
        return response

    @app.get("/protected")
    @gp.require()
    def protected():
        return {"key": gp.current_key.id}

    app.register_blueprint(
        manage_blueprint(gp, principal=lambda req: owner_principal(req.cookies.get(LOGIN_COOKIE))),
        url_prefix="/tokens",
    )
    return app


def serve_wsgi(app) -> None:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    announce(server.port)
    server.serve_forever()


def django_app(store: str):
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="browser-tests-only",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[
            "django.middleware.security.SecurityMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
        ],
        INSTALLED_APPS=[],
        GATEPASS={"STORE": store},
        USE_TZ=True,
    )
    django.setup()
    from django.core.wsgi import get_wsgi_application

    # ROOT_URLCONF is this module, run as __main__.
    globals()["urlpatterns"] = django_urls()

    return get_wsgi_application()


def django_urls():
    from django.http import HttpResponseRedirect, JsonResponse
    from django.urls import include, path

    from gatepass.django import require
    from gatepass.django.manage import manage_urls

    def login(request):
        response = HttpResponseRedirect("/tokens/")
        response.set_cookie(LOGIN_COOKIE, request.GET["user"], httponly=True, samesite="Lax")
        return response

    @require()
    def protected(request):
        return JsonResponse({"key": request.gatepass_key.id})

    return [
        path("login", login),
        path("protected", protected),
        path(
            "tokens/",
            include(manage_urls(principal=lambda req: owner_principal(req.COOKIES.get(LOGIN_COOKIE)))),
        ),
    ]


def fastapi_app(store: str):
    from fastapi import FastAPI, Request, Security
    from fastapi.responses import RedirectResponse

    from gatepass.fastapi import GatepassSecurity, install, manage_router

    gate = gatepass.Gate(store)
    api_key = GatepassSecurity(gate)
    app = FastAPI()

    @app.get("/login")
    def login(user: str):
        response = RedirectResponse("/tokens/")
        response.set_cookie(LOGIN_COOKIE, user, httponly=True, samesite="lax")
        return response

    @app.get("/protected")
    def protected(key: gatepass.KeyInfo = Security(api_key, scopes=[])):
        return {"key": key.id}

    def principal(request: Request) -> Optional[gatepass.Principal]:
        return owner_principal(request.cookies.get(LOGIN_COOKIE))

    app.include_router(manage_router(gate, principal=principal), prefix="/tokens")
    install(app)
    return app


def main() -> None:
    framework, store = sys.argv[1], sys.argv[2]
    if framework == "flask":
        serve_wsgi(flask_app(store))
    elif framework == "django":
        serve_wsgi(django_app(store))
    elif framework == "fastapi":
        import uvicorn

        port = free_port()
        config = uvicorn.Config(fastapi_app(store), host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        announce(port)
        server.run()
    else:
        raise SystemExit(f"unknown framework {framework!r}")


if __name__ == "__main__":
    main()
