from ..base import make_command

Command = make_command("List the audit trail: who changed which key, newest first.", ["events"])
