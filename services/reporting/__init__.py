"""Reporting service: read models of the movement and the summaries that go up."""
