"""Monitoring: windows over the inference log (``monitor``), alert rules with their state in
the store (``alerts``), signed webhooks with an SSRF guard (``webhooks``, ``ssrf``), and the
in-server scheduler (``scheduler``)."""

__all__: list[str] = []  # a namespace: import the modules
