from ..base import make_command

Command = make_command("List API keys.", ["keys", "list"])
