"""Awards service: award catalogue and rules, emulation registrations, nominations to decision."""
