"""The rank-k truncation of a matrix, with a gradient that stays finite.

``best_rank_approximation(A, k)`` is ``U_k S_k V_k^T``, the best rank-``k`` approximation
of A (its ``k`` largest singular triplets), the operation at the heart of RRAE. Autograd
through ``torch.linalg.svd`` differentiates every singular vector on its own, with the
factors ``1 / (s_i**2 - s_j**2)`` for *all* pairs: infinite whenever two singular values
coincide, which is the rule when a batch has fewer rows than columns (repeated zero
singular values) or repeated rows. But ``A_k = A V_k V_k^T`` depends only on the
subspace spanned by the top ``k`` right singular vectors, not on the vectors inside it,
so the pairs within the top ``k`` and within the rest cancel out of its true derivative.
The backward below keeps only the pairs that do not cancel (one index among the top
``k``, one among the rest):

With the thin SVD ``A = U S V^T`` (m x n, r = min(m, n) singular values, descending),
``P = V_k V_k^T``, ``G`` the gradient of the loss with respect to ``A_k`` and
``G~ = U^T G V``, the gradient with respect to A is

    G P + U N V^T + [n > r] U_k U_k^T G (I - V V^T),

where N is zero except, for i among the top k and j among the other r - k,

    N_ij = s_i T_ij,   N_ji = s_j T_ij,   T_ij = (s_i G~_ij + s_j G~_ji) / (s_i**2 - s_j**2).

(The last term is the pairs of the top k with the null space of A, when m < n.) It
equals the derivative wherever ``s_k > s_{k+1}``. Where the two straddling the cut
coincide the truncation itself is not differentiable (which vectors are "top" is
arbitrary); there the denominator is clamped to ``EPS`` times ``s_1**2``, a bounded
gradient instead of an infinite one, as in the stabilised SVD of the RRAE paper
(Mounayer et al. 2024, appendix A).
"""

import torch

#: Smallest gap ``s_i**2 - s_j**2`` across the cut, relative to ``s_1**2``.
EPS = 1e-7


class _BestRankApproximation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, A, rank):
        U, S, Vh = torch.linalg.svd(A, full_matrices=False)
        ctx.save_for_backward(U, S, Vh)
        ctx.rank = rank
        return (U[:, :rank] * S[:rank]) @ Vh[:rank]

    @staticmethod
    def backward(ctx, G):
        U, S, Vh = ctx.saved_tensors
        k = ctx.rank
        V = Vh.mT
        Vk = V[:, :k]
        grad = (G @ Vk) @ Vk.mT
        # Pairs (i among the top k, j among the rest of the r singular values).
        G_tilde = U.mT @ G @ V
        s_top, s_rest = S[:k, None], S[None, k:]
        gap = (s_top.square() - s_rest.square()).clamp_min(EPS * S[0].square())
        gap = torch.where(gap > 0, gap, torch.ones_like(gap))  # an all-zero A
        T = (s_top * G_tilde[:k, k:] + s_rest * G_tilde[k:, :k].mT) / gap
        N = torch.zeros_like(G_tilde)
        N[:k, k:] = s_top * T
        N[k:, :k] = (s_rest * T).mT
        grad = grad + U @ N @ Vh
        if Vh.shape[1] > S.shape[0]:
            # Pairs of the top k with the null space of A (fewer rows than columns).
            Uk = U[:, :k]
            UkG = Uk.mT @ G
            grad = grad + Uk @ (UkG - (UkG @ V) @ Vh)
        return grad, None


def best_rank_approximation(A, rank):
    """``A`` (a 2-d tensor) rebuilt from its ``rank`` largest singular triplets, with the
    stabilised gradient of the module's docstring; ``A`` itself when ``rank`` is at least
    ``min(A.shape)``."""
    if rank >= min(A.shape):
        return A
    return _BestRankApproximation.apply(A, rank)
