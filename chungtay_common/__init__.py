"""What every chungtay service shares: contracts, outbox, Kafka and database wiring, auth, errors."""
