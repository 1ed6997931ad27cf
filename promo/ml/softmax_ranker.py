"""A linear ranking model learned with a softmax over each customer's candidates.

Recall@k only depends on how a customer's own candidates are ordered, so the buy-again
ranker is learned the way it is used: for each (customer, week) group of candidates, the
probability that a re-bought one is picked is ``exp(score) / sum(exp(scores of the
group))`` (a conditional logit, as in discrete choice). Unlike a logistic regression over
all pairs, it spends nothing on telling apart customers who shop a lot from customers who
shop little (a constant within a group cancels out), and every group counts by the weight
it is given (one over its re-bought products, as recall counts them).

Optionally each candidate belongs to a category (the product's), and every category gets
its own intercept and its own adjustment of every coefficient, shrunk towards the shared
coefficients by a separate L2 penalty: the same feature (a purchase last week, say) need
not mean the same for milk and for toys, and a category seen rarely keeps close to the
shared model.

Plain numpy and scipy's L-BFGS; the result is a coefficient vector over standardised
features (and a matrix of category adjustments), stored like any other array.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize


def fit_softmax(design: np.ndarray, labels: np.ndarray, group_starts: np.ndarray,
                group_weight: np.ndarray, C: float = 1.0, max_iter: int = 200, *,
                categories: np.ndarray | None = None, n_categories: int = 0,
                category_penalty: float = 300.0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardisation and coefficients maximising the weighted softmax likelihood.

    Parameters
    ----------
    design : ndarray of shape (n_rows, n_features)
        Candidates, the rows of each group contiguous.
    labels : ndarray of bool, shape (n_rows,)
        Whether the candidate was chosen (re-bought); every group needs at least one.
    group_starts : ndarray of int, shape (n_groups,)
        The first row of each group, increasing, the first being 0.
    group_weight : ndarray of float, shape (n_groups,)
        Each group's weight (scaled here to average 1).
    C : float, default=1.0
        Inverse L2 penalty, as in scikit-learn: ``0.5 * |coef|^2 + C * sum(weight * loss)``.
    categories : ndarray of int, shape (n_rows,), optional
        Each candidate's category in ``[0, n_categories)``, or -1 for none (no adjustment).
    n_categories : int, default=0
    category_penalty : float, default=300
        The L2 penalty ``0.5 * category_penalty * |category_coef|^2`` added to the above;
        larger keeps the categories closer to the shared coefficients.

    Returns
    -------
    means, scales, coef : ndarray of shape (n_features,)
    category_coef : ndarray of shape (n_categories, n_features + 1)
        Scores are ``standard @ coef + category_coef[c] @ [1, *standard]`` with
        ``standard = (design - means) / scales`` and ``c`` the candidate's category
        (:func:`category_scores`); no rows without ``categories``.
    """
    labels = np.asarray(labels, dtype=float)
    n_rows = len(labels)
    starts = np.asarray(group_starts, dtype=np.int64)
    sizes = np.diff(np.r_[starts, n_rows])
    group = np.repeat(np.arange(len(starts)), sizes)
    chosen = np.add.reduceat(labels, starts)
    if (chosen <= 0).any():
        raise ValueError("every group needs a chosen candidate")
    weight = np.asarray(group_weight, dtype=float)
    weight = weight * len(weight) / weight.sum()
    means = design.mean(axis=0)
    scales = design.std(axis=0)
    scales[scales < 1e-9] = 1.0
    # Single precision halves the memory traffic of the two products per step, which is
    # most of the fit's time; the sums that decide convergence stay in double.
    standard = ((design - means) / scales).astype(np.float32)
    n_features = standard.shape[1]
    if categories is None or n_categories == 0:
        categories, n_categories = np.full(n_rows, -1), 0
    by_category = _category_matrix(standard, np.asarray(categories), n_categories)

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, adjustment = theta[:n_features], theta[n_features:]
        score = (standard @ coef.astype(np.float32)).astype(np.float64) \
            + by_category @ adjustment.astype(np.float32)
        top = np.maximum.reduceat(score, starts)
        exp = np.exp(score - top[group])
        total = np.add.reduceat(exp, starts)
        log_total = top + np.log(total)
        # -sum over chosen rows of log softmax = chosen * log_total - sum of chosen scores.
        loss = chosen * log_total - np.add.reduceat(labels * score, starts)
        share = exp / total[group]
        row_coefficient = (weight[group] * (chosen[group] * share - labels)).astype(np.float32)
        value = C * float(weight @ loss) + 0.5 * float(coef @ coef) \
            + 0.5 * category_penalty * float(adjustment @ adjustment)
        gradient = np.r_[C * (standard.T @ row_coefficient).astype(np.float64) + coef,
                         C * (by_category.T @ row_coefficient).astype(np.float64)
                         + category_penalty * adjustment]
        return value, gradient

    found = minimize(loss_and_gradient, np.zeros(n_features + by_category.shape[1]), jac=True,
                     method="L-BFGS-B", options={"maxiter": max_iter})
    theta = found.x.astype(np.float64)
    return means, scales, theta[:n_features], theta[n_features:].reshape(n_categories, n_features + 1)


def category_scores(standard: np.ndarray, categories: np.ndarray, category_coef: np.ndarray) -> np.ndarray:
    """Each row's category adjustment, ``category_coef[c] @ [1, *standard]`` (0 where the
    category is -1 or beyond those learned, e.g. a product newer than the model)."""
    result = np.zeros(len(standard))
    known = (categories >= 0) & (categories < len(category_coef))
    if known.any():
        chosen = category_coef[categories[known]]
        result[known] = chosen[:, 0] + np.einsum("ij,ij->i", chosen[:, 1:], standard[known])
    return result


def _category_matrix(standard: np.ndarray, categories: np.ndarray, n_categories: int) -> sp.csr_matrix:
    """The sparse design of the category adjustments: row ``r`` holds ``[1, *standard[r]]``
    in the columns of its category's block, nothing when it has none."""
    n_rows, width = standard.shape[0], standard.shape[1] + 1
    known = categories >= 0
    values = np.hstack([np.ones((int(known.sum()), 1), np.float32), standard[known]])
    columns = categories[known, None].astype(np.int64) * width + np.arange(width)
    indptr = np.r_[0, np.cumsum(known * width)]
    return sp.csr_matrix((values.ravel(), columns.ravel(), indptr), shape=(n_rows, n_categories * width))
