"""What every chungtay service shares: contracts, outbox, Kafka and DB wiring, auth, errors."""
