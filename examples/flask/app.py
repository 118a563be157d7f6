"""A small Platform API protected by gatepass, in Flask.

Run it (one command; the key store is ./gatepass.db unless $GATEPASS_STORE says otherwise):

    python examples/flask/app.py                 # http://127.0.0.1:5000

Then, in another shell:

    gatepass keys issue "Demo" --scope bots:read           # prints a token once
    curl -H "Authorization: Bearer <token>" http://127.0.0.1:5000/v1/bots
    curl -X POST -H "Authorization: Bearer <token>" http://127.0.0.1:5000/v1/bots   # 403 insufficient_scope

Webhooks: set GATEPASS_WEBHOOK_SECRET (``gatepass webhook secret standard``) and
POST a body signed with ``gatepass webhook sign standard`` to /hooks/events.
"""

from __future__ import annotations

import argparse
import os

from flask import Flask, jsonify, request

from gatepass.flask import Gatepass

app = Flask(__name__)
app.config["GATEPASS_STORE"] = os.environ.get("GATEPASS_STORE", "sqlite:///gatepass.db")
gp = Gatepass(app)

BOTS = [{"id": "bot_1", "name": "Support bot"}, {"id": "bot_2", "name": "Sales bot"}]
WEBHOOK_SECRET = os.environ.get("GATEPASS_WEBHOOK_SECRET") or "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@app.get("/health")
def health():
    return {"ok": True}


@app.get("/v1/bots")
@gp.require("bots:read")
def list_bots():
    key = gp.current_key
    return {"bots": BOTS, "key": {"id": key.id, "name": key.name, "subject": key.subject}}


@app.post("/v1/bots")
@gp.require(["bots:write"])
def create_bot():
    bot = {"id": f"bot_{len(BOTS) + 1}", "name": (request.get_json(silent=True) or {}).get("name", "New bot")}
    BOTS.append(bot)
    return bot, 201


@app.get("/v1/channels/<channel_id>/messages")
@gp.require("channels:read or admin", resource=lambda channel_id: f"channel:{channel_id}")
def channel_messages(channel_id):
    return {"channel": channel_id, "messages": []}


@app.post("/hooks/events")
@gp.webhook("standard", secrets=[WEBHOOK_SECRET])
def events():
    return jsonify(received=gp.current_webhook.id, event=request.get_json(silent=True))


@app.errorhandler(404)
def not_found(_e):
    return {"type": "about:blank", "title": "Not Found", "status": 404}, 404


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    app.run(host=args.host, port=args.port)
