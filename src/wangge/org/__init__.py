"""Organisation of the territory: regions, grids, geometry, staff and their posts (3+N)."""
