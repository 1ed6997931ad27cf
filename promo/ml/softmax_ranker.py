"""A linear ranking model learned with a softmax over each customer's candidates.

Recall@k only depends on how a customer's own candidates are ordered, so the buy-again
ranker is learned the way it is used: for each (customer, week) group of candidates, the
probability that a re-bought one is picked is ``exp(score) / sum(exp(scores of the
group))`` (a conditional logit, as in discrete choice). Unlike a logistic regression over
all pairs, it spends nothing on telling apart customers who shop a lot from customers who
shop little (a constant within a group cancels out), and every group counts by the weight
it is given (one over its re-bought products, as recall counts them).

Plain numpy and scipy's L-BFGS; the result is a coefficient vector over standardised
features, stored like any other array.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize


def fit_softmax(design: np.ndarray, labels: np.ndarray, group_starts: np.ndarray,
                group_weight: np.ndarray, C: float = 1.0, max_iter: int = 200
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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

    Returns
    -------
    means, scales, coef : ndarray of shape (n_features,)
        Scores are ``((design - means) / scales) @ coef``.
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

    def loss_and_gradient(coef: np.ndarray) -> tuple[float, np.ndarray]:
        score = (standard @ coef.astype(np.float32)).astype(np.float64)
        top = np.maximum.reduceat(score, starts)
        exp = np.exp(score - top[group])
        total = np.add.reduceat(exp, starts)
        log_total = top + np.log(total)
        # -sum over chosen rows of log softmax = chosen * log_total - sum of chosen scores.
        loss = chosen * log_total - np.add.reduceat(labels * score, starts)
        share = exp / total[group]
        row_coefficient = weight[group] * (chosen[group] * share - labels)
        value = C * float(weight @ loss) + 0.5 * float(coef @ coef)
        return value, C * (standard.T @ row_coefficient.astype(np.float32)).astype(np.float64) + coef

    found = minimize(loss_and_gradient, np.zeros(standard.shape[1]), jac=True, method="L-BFGS-B",
                     options={"maxiter": max_iter})
    return means, scales, found.x.astype(np.float64)
