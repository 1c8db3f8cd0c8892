"""Indicators service: campaigns, targets, the indicator catalogue and yearly reports."""
