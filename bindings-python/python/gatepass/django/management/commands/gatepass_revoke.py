from ..base import make_command

Command = make_command("Revoke a key (one-way, immediate).", ["keys", "revoke"])
