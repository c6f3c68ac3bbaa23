"""loopml.server.routes"""

__all__: list[str] = []  # a namespace: import the modules
