"""Metrics of the reporting service (the shared ones are in ``chungtay_common.metrics``).

The reporting service has none of its own yet: its consumers are measured by the shared
``chungtay_events_consumed_total``, ``chungtay_event_processing_seconds`` and
``chungtay_consumer_lag_messages``.
"""
