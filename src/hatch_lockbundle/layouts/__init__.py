"""Bundle layouts: where fetched wheels end up (a destination, in installer's terms)."""
