"""loopml.testing"""

__all__: list[str] = []  # a namespace: import the modules
