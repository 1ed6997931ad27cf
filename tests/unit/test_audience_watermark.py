"""The purchase watermark of the audience scorer: ids that commit late are still seen."""
from __future__ import annotations

import time

import numpy as np

from promo.services.audience_scoring import _Watermark


def ms_ago(seconds: float) -> int:
    return int((time.time() - seconds) * 1000)


def test_without_grace_every_listed_id_is_new_once_and_the_watermark_moves_past_it():
    mark = _Watermark(0)
    assert mark.advance(np.array([3, 4]), np.array([ms_ago(1), ms_ago(1)])).tolist() == [True, True]
    assert mark.safe == 4 and len(mark.recent) == 0


def test_with_grace_recent_ids_are_kept_so_a_late_commit_below_them_is_still_new():
    mark = _Watermark(60_000)
    # 5 and 6 were recorded two minutes ago; 7 and 10 just now (8 and 9 not yet committed).
    first = mark.advance(np.array([5, 6, 7, 10]), np.array([ms_ago(120), ms_ago(120), ms_ago(1), ms_ago(1)]))
    assert first.all() and mark.safe == 6 and mark.recent.tolist() == [7, 10]
    # 8 commits late: listed again above 6, only 8 is new.
    second = mark.advance(np.array([7, 8, 10]), np.array([ms_ago(1), ms_ago(1), ms_ago(1)]))
    assert second.tolist() == [False, True, False] and mark.recent.tolist() == [7, 8, 10]
    # Once they are older than the grace, the watermark passes them and they are not listed again.
    third = mark.advance(np.array([7, 8, 10]), np.array([ms_ago(61)] * 3))
    assert not third.any() and mark.safe == 10 and len(mark.recent) == 0
