"""The chungtay services; each is a package of the same shape."""
