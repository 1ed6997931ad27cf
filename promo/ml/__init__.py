"""Personalisation models: the product recommender and the redemption-response model.

Pure numpy/scipy/pandas/scikit-learn code, like the domain: no Flask, no SQLAlchemy.
The services load the frames described in :mod:`promo.ml.frames` from the database and
hand them over; the model registry stores what :meth:`to_arrays` returns.
"""
