"""Operators' figures: the /stats chart and the send counts it needs, recorded every minute."""
