"""Plain-Python rules of the product. Imports neither Flask nor SQLAlchemy."""
