"""Places: British National Grid conversion and reading a location as a dispatcher gives it."""
