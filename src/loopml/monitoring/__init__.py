"""Monitoring: alert rules, signed webhooks with an SSRF guard (monitors over the serving
inference log arrive with serving)."""
