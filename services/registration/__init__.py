"""Registration service: units of the movement and their dated hierarchy."""
