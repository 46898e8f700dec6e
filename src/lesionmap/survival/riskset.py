"""The Cox partial likelihood with a random intercept, its score and information, in memory linear in rows.

Coefficients come in two parts, as in coxme: ``w`` multiplies the dense design ``W`` (fixed effects, and the
indicator columns of random-effect groups kept dense), ``b`` holds one random intercept per *sparse* group.
The information block of the sparse intercepts is kept diagonal (coxme's sparse treatment); every other block
is exact.

Risk-set sums are cumulative sums over rows sorted by (stratum, time): no n x n matrix is ever formed.
Tied event times use Efron's approximation (Breslow optional). With d tied events at a time, Efron's d
denominators S0 - (l/d) E0, l = 0..d-1, are summed once per distinct event time into five scalars
(sums of 1/den, c/den, 1/den^2, c/den^2, c^2/den^2 with c = l/d), so the per-row work never depends on d.
The diagonal of the sparse block is taken from cumulative sums within (group, stratum, time) cells: a group's
risk sum a_g(t) is a step function of t, constant between the times of its own rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

TIES = ("efron", "breslow")


@dataclass
class Derivatives:
    """Unpenalized log partial likelihood and its derivatives at one point (information = minus Hessian)."""

    loglik: float
    score_w: np.ndarray
    score_b: np.ndarray
    info_ww: np.ndarray | None = None
    info_bw: np.ndarray | None = None
    info_bb_diag: np.ndarray | None = None
    curvature: tuple | None = None


def _with_zero(values: np.ndarray) -> np.ndarray:
    """Cumulative sums along the first axis with a leading zero row: out[j] = sum(values[:j])."""
    out = np.zeros((values.shape[0] + 1,) + values.shape[1:])
    np.cumsum(values, axis=0, out=out[1:])
    return out


class RiskSetAlgebra:
    """Index structure of one data set (fixed for a fit) and the evaluation of the partial likelihood.

    ``time``, ``event``, ``strata`` (integer codes), ``sparse_group`` (codes 0..n_sparse-1, or -1 for rows whose
    group is dense or absent) and ``dense_design`` (n x m) are in the caller's row order; they are sorted once.
    """

    def __init__(self, time, event, strata, sparse_group, n_sparse: int, dense_design, ties: str = "efron"):
        if ties not in TIES:
            raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
        time = np.asarray(time, dtype=float)
        order = np.lexsort((time, np.asarray(strata)))
        self.n = n = len(time)
        self.ties = ties
        self.t = t = time[order]
        self.s = s = np.asarray(strata)[order]
        self.status = np.asarray(event, dtype=float)[order]
        self.W = np.ascontiguousarray(np.asarray(dense_design, dtype=float)[order])
        self.Wt = np.ascontiguousarray(self.W.T)
        self.gs = gs = np.asarray(sparse_group, dtype=np.int64)[order]
        self.n_sparse = n_sparse

        # blocks of rows sharing (stratum, time); strata as contiguous runs
        new_block = np.ones(n, dtype=bool)
        new_block[1:] = (t[1:] != t[:-1]) | (s[1:] != s[:-1])
        block_start = np.flatnonzero(new_block)
        row_block_start = block_start[np.cumsum(new_block) - 1]
        new_stratum = np.ones(n, dtype=bool)
        new_stratum[1:] = s[1:] != s[:-1]
        stratum_start = np.flatnonzero(new_stratum)
        stratum_end = np.append(stratum_start[1:], n)
        self.stratum_start = stratum_start
        row_stratum = np.cumsum(new_stratum) - 1

        # distinct event times (blocks with at least one event)
        events = self.status > 0
        block_has_event = np.zeros(n, dtype=bool)
        block_has_event[row_block_start[events]] = True
        self.ev_start = np.flatnonzero(block_has_event)
        self.K = K = len(self.ev_start)
        if K == 0:
            raise ValueError("no events: the partial likelihood is empty")
        self.ev_stratum_end = stratum_end[row_stratum[self.ev_start]]
        # for each row: event times of its stratum at or before its time are k in [kz_lo, kz_hi)
        self.kz_hi = np.searchsorted(self.ev_start, row_block_start, side="right")
        self.kz_lo = np.searchsorted(self.ev_start, stratum_start[row_stratum], side="left")
        self._stratified = bool(np.any(self.kz_lo > 0))

        # event rows, their event time and their rank among the ties (Efron's l)
        self.ev_rows = np.flatnonzero(events)
        self.ev_k = self.kz_hi[self.ev_rows] - 1
        self.ev_k_first = np.searchsorted(self.ev_k, np.arange(K))
        self.n_tied = np.bincount(self.ev_k, minlength=K).astype(float)
        rank = np.arange(len(self.ev_rows)) - self.ev_k_first[self.ev_k]
        self.tie_fraction = rank / self.n_tied[self.ev_k] if ties == "efron" else np.zeros(len(self.ev_rows))

        self._build_segments()
        self._build_groups(gs)
        self._build_cells(gs, s, t)

    def _build_segments(self):
        """Rows between consecutive event-time starts (and stratum starts): the risk sums per event time."""
        n = self.n
        boundaries = np.union1d(self.ev_start, self.stratum_start)
        self.segment_of_event = np.searchsorted(boundaries, self.ev_start)
        self.segment_of_stratum_end = np.searchsorted(boundaries, self.ev_stratum_end)
        row_segment = np.searchsorted(boundaries, np.arange(n), side="right") - 1
        self._segment_ptr = np.searchsorted(row_segment, np.arange(len(boundaries) + 1))
        self._segment_shape = (len(boundaries), n)
        self._event_ptr = np.append(self.ev_k_first, len(self.ev_rows))

    def _build_groups(self, gs):
        """Rows and event rows of each sparse group, in group order (the sparse aggregation matrices)."""
        G = self.n_sparse
        rows = np.flatnonzero(gs >= 0)
        self.sparse_rows = rows
        by_group = rows[np.argsort(gs[rows], kind="stable")]
        self._group_rows = by_group
        self._group_ptr = np.searchsorted(gs[by_group], np.arange(G + 1))
        self._group_khi = self.kz_hi[by_group]
        self._group_klo = self.kz_lo[by_group]
        sparse_events = self.ev_rows[gs[self.ev_rows] >= 0]
        events_by_group = sparse_events[np.argsort(gs[sparse_events], kind="stable")]
        self._group_events = events_by_group
        self._group_event_ptr = np.searchsorted(gs[events_by_group], np.arange(G + 1))
        self._group_event_k = self.kz_hi[events_by_group] - 1
        self.sparse_event_rows = sparse_events
        self._all_sparse = len(rows) == self.n
        self._gs_sparse = gs[rows]
        self._gs_events_sparse = gs[sparse_events]
        self._k_events_sparse = self.kz_hi[sparse_events] - 1

    def _build_cells(self, gs, s, t):
        """(group, stratum, time) cells of the sparse groups: a group's risk sum is constant between them."""
        n, rows, sparse_events = self.n, self.sparse_rows, self.sparse_event_rows
        order = rows[np.lexsort((t[rows], s[rows], gs[rows]))]
        g2, s2, t2 = gs[order], s[order], t[order]
        new_cell = np.ones(len(order), dtype=bool)
        new_cell[1:] = (g2[1:] != g2[:-1]) | (s2[1:] != s2[:-1]) | (t2[1:] != t2[:-1])
        self.row_cell = np.full(n, -1, dtype=np.int64)
        self.row_cell[order] = np.cumsum(new_cell) - 1
        first = order[new_cell]
        self.n_cells = n_cells = len(first)
        self.cell_group = gs[first]
        cell_new_segment = np.ones(n_cells, dtype=bool)
        cell_new_segment[1:] = (self.cell_group[1:] != self.cell_group[:-1]) | (s[first][1:] != s[first][:-1])
        segment_start = np.flatnonzero(cell_new_segment)
        segment_end = np.append(segment_start[1:], n_cells)
        self.cell_segment_end = segment_end[np.cumsum(cell_new_segment) - 1]
        self.cell_khi = self.kz_hi[first]
        self.cell_kprev = np.empty(n_cells, dtype=np.int64)
        self.cell_kprev[1:] = self.cell_khi[:-1]
        self.cell_kprev[cell_new_segment] = self.kz_lo[first[cell_new_segment]]
        self.event_cells = np.unique(self.row_cell[sparse_events])
        self.event_cell_k = self.cell_khi[self.event_cells] - 1
        self._event_cell_group = self.cell_group[self.event_cells]
        self._cell_sparse = self.row_cell[rows]
        self._cell_events_sparse = self.row_cell[sparse_events]

    def linear_predictor(self, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        """eta = W w + b[group] in sorted row order (rows without a sparse group get no intercept)."""
        eta = self.Wt.T @ w
        if self.n_sparse:
            eta += np.append(b, 0.0)[self.gs]
        return eta

    def _cumulative_at_rows(self, per_event_time: np.ndarray, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        """Sum of per-event-time values over the event times of each row's stratum at or before its time."""
        cum = _with_zero(per_event_time)
        if self._stratified:
            return cum[self.kz_hi[rows]] - cum[self.kz_lo[rows]]
        return cum[self.kz_hi[rows]]

    def _first_order(self, w: np.ndarray, b: np.ndarray) -> dict:
        """Risk scores, Efron denominators per tie, expected counts and the log partial likelihood."""
        eta = self.linear_predictor(w, b)
        shift = eta.max()
        r = np.exp(eta - shift)
        k, c, first = self.ev_k, self.tie_fraction, self.ev_k_first
        cum_r = _with_zero(r)
        risk_total = cum_r[self.ev_stratum_end] - cum_r[self.ev_start]
        r_events = r[self.ev_rows]
        tied_risk = np.add.reduceat(r_events, first)
        den = risk_total[k] - c * tied_risk[k]
        inv = 1.0 / den
        expected = r * self._cumulative_at_rows(np.add.reduceat(inv, first))
        expected[self.ev_rows] -= r_events * np.add.reduceat(c * inv, first)[k]
        loglik = float(np.sum(eta[self.ev_rows] - shift) - np.sum(np.log(den)))
        return {"r": r, "r_events": r_events, "inv": inv, "expected": expected, "loglik": loglik}

    def _tie_sums(self, inv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per event time: sums over Efron's ties of 1/den^2, c/den^2 and c^2/den^2."""
        c, first = self.tie_fraction, self.ev_k_first
        inv2 = inv * inv
        return (np.add.reduceat(inv2, first), np.add.reduceat(c * inv2, first), np.add.reduceat(c * c * inv2, first))

    def _sparse_values(self, values: np.ndarray) -> np.ndarray:
        return values if self._all_sparse else values[self.sparse_rows]

    def _group_diagonal(self, r: np.ndarray, expected: np.ndarray, c0, c1, c2) -> tuple[np.ndarray, np.ndarray]:
        """Diagonal of the sparse groups' information block, and its rank-one part (for the off-diagonal)."""
        cell_r = np.bincount(self._cell_sparse, self._sparse_values(r), minlength=self.n_cells)
        cum_cell = _with_zero(cell_r)
        suffix = cum_cell[self.cell_segment_end] - cum_cell[:-1]
        cum_c0 = _with_zero(c0)
        quadratic = suffix * suffix * (cum_c0[self.cell_khi] - cum_c0[self.cell_kprev])
        ev = self.sparse_event_rows
        cell_e = np.bincount(self._cell_events_sparse, r[ev], minlength=self.n_cells)[self.event_cells]
        ek = self.event_cell_k
        tie_terms = cell_e * (cell_e * c2[ek] - 2.0 * suffix[self.event_cells] * c1[ek])
        rank_one = np.bincount(self.cell_group, quadratic, minlength=self.n_sparse) + np.bincount(
            self._event_cell_group, tie_terms, minlength=self.n_sparse
        )
        expected_groups = np.bincount(self._gs_sparse, self._sparse_values(expected), minlength=self.n_sparse)
        return expected_groups - rank_one, rank_one

    def loglik_and_group_diagonal(self, w: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray]:
        """Log partial likelihood and the diagonal of the sparse groups' information block only."""
        part = self._first_order(w, b)
        diagonal, _ = self._group_diagonal(part["r"], part["expected"], *self._tie_sums(part["inv"]))
        return part["loglik"], diagonal

    def evaluate(self, w: np.ndarray, b: np.ndarray, second: bool = True) -> Derivatives:
        """Log partial likelihood, score and (if ``second``) information at (w, b)."""
        part = self._first_order(w, b)
        r, r_events, expected = part["r"], part["r_events"], part["expected"]
        residual = self.status - expected
        score_w = self.Wt @ residual
        score_b = (
            np.bincount(self._gs_sparse, self._sparse_values(residual), minlength=self.n_sparse)
            if self.n_sparse
            else np.zeros(0)
        )
        out = Derivatives(part["loglik"], score_w, score_b)
        if not second:
            return out

        c0, c1, c2 = self._tie_sums(part["inv"])
        W = self.W
        segments = sparse.csr_array((r, np.arange(self.n), self._segment_ptr), shape=self._segment_shape)
        cum_segments = _with_zero(segments @ W)
        s1 = cum_segments[self.segment_of_stratum_end] - cum_segments[self.segment_of_event]
        e1 = sparse.csr_array((r_events, self.ev_rows, self._event_ptr), shape=(self.K, self.n)) @ W
        root = self.Wt * np.sqrt(np.maximum(expected, 0.0))
        cross = s1.T @ (c1[:, None] * e1)
        out.info_ww = root @ root.T - s1.T @ (c0[:, None] * s1) + cross + cross.T - e1.T @ (c2[:, None] * e1)
        if not self.n_sparse:
            return out

        G, K = self.n_sparse, self.K
        rows, ptr = self._group_rows, self._group_ptr
        f0 = _with_zero(c0[:, None] * s1 - c1[:, None] * e1)
        r_rows = r[rows]
        info_bw = sparse.csr_array((expected[rows], rows, ptr), shape=(G, self.n)) @ W
        info_bw -= sparse.csr_array((r_rows, self._group_khi, ptr), shape=(G, K + 1)) @ f0
        if self._stratified:
            info_bw += sparse.csr_array((r_rows, self._group_klo, ptr), shape=(G, K + 1)) @ f0
        events = self._group_events
        info_bw -= sparse.csr_array((r[events], self._group_event_k, self._group_event_ptr), shape=(G, K)) @ (
            c2[:, None] * e1 - c1[:, None] * s1
        )
        out.info_bw = info_bw
        out.info_bb_diag, rank_one = self._group_diagonal(r, expected, c0, c1, c2)
        ev = self.sparse_event_rows
        out.curvature = (self._sparse_values(r), r[ev], c0, c1, c2, rank_one)
        return out

    def offdiagonal_product(self, curvature: tuple, v: np.ndarray) -> np.ndarray:
        """Product of the off-diagonal part of the sparse groups' information block with a vector.

        The block is diag(expected) - sum over event times and ties of u u' / den^2, u_g = a_g(t) - c e_g(t);
        its off-diagonal part (what the diagonal treatment leaves out) times v costs two cumulative sums.
        """
        r_sparse, r_events, c0, c1, c2, rank_one = curvature
        weighted = np.zeros(self.n)
        weighted[self.sparse_rows] = r_sparse * v[self._gs_sparse]
        cum = _with_zero(weighted)
        at_risk = cum[self.ev_stratum_end] - cum[self.ev_start]
        tied = np.add.reduceat(weighted[self.ev_rows], self.ev_k_first)
        spread = self._cumulative_at_rows(at_risk * c0 - tied * c1, self.sparse_rows)
        tie_f = at_risk * c1 - tied * c2
        full = np.bincount(self._gs_sparse, r_sparse * spread, minlength=self.n_sparse) - np.bincount(
            self._gs_events_sparse, r_events * tie_f[self._k_events_sparse], minlength=self.n_sparse
        )
        return rank_one * v - full
