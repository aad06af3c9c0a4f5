"""Proxies (ombud, MC-R39 to MC-R46): who may handle another user's personal inbox, and when."""
