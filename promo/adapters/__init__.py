"""Infrastructure behind small interfaces: database, repositories, and later the stock view."""
