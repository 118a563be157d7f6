from ..base import make_command

Command = make_command("Verify a token or Authorization value.", ["verify"])
