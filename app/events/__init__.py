"""Events: the windows worth an operator's look, listed newest first and counted per hour (`oceanwatch.events`)."""
