"""Geography: coordinate systems and the point→grid index."""
