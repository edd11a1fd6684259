"""Exact second derivatives: Hessian-vector products by Pearlmutter's R-operator (forward over reverse).

For a direction v = (V_l, c_l) the R-forward pass propagates R(Z_l) = V_l A_{l-1} + W_l R(A_{l-1}) + c_l and
R(A_l) = σ'(Z_l) R(Z_l); the R-backward pass differentiates the gradient's backward pass:
R(δ_L) = ℓ''(Z_L) R(Z_L) / n, R(∇W_l) = R(δ_l)ᵀ A_{l-1} + δ_lᵀ R(A_{l-1}),
R(δ_{l-1}) = (R(δ_l) W_l + δ_l V_l) σ'(Z_{l-1}) + (δ_l W_l) σ''(Z_{l-1}) R(Z_{l-1}).
The dense Hessian is P such products after one shared forward pass (H is symmetric; it is symmetrised).
The scratch regions follow the gradient kernel's (see :func:`sadbench.kernels.work_size`).
"""

from numba import njit

from sadbench import signatures as sig
from sadbench.kernels import FASTMATH, _param_offset, _z_offset, regions


def make_second_order(forward, f, df, d2f, loss_value, loss_d1, loss_d2):
    @njit(fastmath=FASTMATH)
    def r_pass(prob, theta, v, out):
        """∇²L(θ)·v into ``out``, given that ``forward`` already filled Z and A; returns L(θ)."""
        X, Y, widths, bias, work = prob
        n = X.shape[0]
        n_layers = widths.size - 1
        k = widths[n_layers]
        a_base, d_base, rz_base, ra_base, rd_base, max_w = regions(widths, n)

        # R-forward
        for l in range(n_layers):
            fan_in, fan_out = widths[l], widths[l + 1]
            p = _param_offset(widths, bias, l)
            W = theta[p : p + fan_out * fan_in].reshape((fan_out, fan_in))
            V = v[p : p + fan_out * fan_in].reshape((fan_out, fan_in))
            z0 = _z_offset(widths, n, l)
            RZ = work[rz_base + z0 : rz_base + z0 + n * fan_out].reshape((n, fan_out))
            if l == 0:
                A_in = X
            else:
                a0 = _z_offset(widths, n, l - 1)
                A_in = work[a_base + a0 : a_base + a0 + n * fan_in].reshape((n, fan_in))
                RA_in = work[ra_base + a0 : ra_base + a0 + n * fan_in].reshape((n, fan_in))
            for i in range(n):
                for j in range(fan_out):
                    s = v[p + fan_out * fan_in + j] if bias else 0.0
                    for m in range(fan_in):
                        s += V[j, m] * A_in[i, m]
                    if l > 0:
                        for m in range(fan_in):
                            s += W[j, m] * RA_in[i, m]
                    RZ[i, j] = s
            if l < n_layers - 1:
                Z = work[z0 : z0 + n * fan_out].reshape((n, fan_out))
                RA = work[ra_base + z0 : ra_base + z0 + n * fan_out].reshape((n, fan_out))
                for i in range(n):
                    for j in range(fan_out):
                        RA[i, j] = df(Z[i, j]) * RZ[i, j]

        # Output layer: δ and R(δ)
        zl = _z_offset(widths, n, n_layers - 1)
        out_z = work[zl : zl + n * k].reshape((n, k))
        out_rz = work[rz_base + zl : rz_base + zl + n * k].reshape((n, k))
        delta = work[d_base : d_base + n * k].reshape((n, k))
        rdelta = work[rd_base : rd_base + n * k].reshape((n, k))
        total = 0.0
        for i in range(n):
            for j in range(k):
                total += loss_value(out_z[i, j], Y[i, j])
                delta[i, j] = loss_d1(out_z[i, j], Y[i, j]) / n
                rdelta[i, j] = loss_d2(out_z[i, j], Y[i, j]) * out_rz[i, j] / n

        # R-backward
        use_second = False
        for l in range(n_layers - 1, -1, -1):
            fan_in, fan_out = widths[l], widths[l + 1]
            p = _param_offset(widths, bias, l)
            W = theta[p : p + fan_out * fan_in].reshape((fan_out, fan_in))
            V = v[p : p + fan_out * fan_in].reshape((fan_out, fan_in))
            oW = out[p : p + fan_out * fan_in].reshape((fan_out, fan_in))
            if l == 0:
                A_in = X
            else:
                a0 = _z_offset(widths, n, l - 1)
                A_in = work[a_base + a0 : a_base + a0 + n * fan_in].reshape((n, fan_in))
                RA_in = work[ra_base + a0 : ra_base + a0 + n * fan_in].reshape((n, fan_in))
            oW[:, :] = 0.0
            for i in range(n):
                for j in range(fan_out):
                    rd = rdelta[i, j]
                    for m in range(fan_in):
                        oW[j, m] += rd * A_in[i, m]
                    if l > 0:
                        d = delta[i, j]
                        for m in range(fan_in):
                            oW[j, m] += d * RA_in[i, m]
            if bias:
                pb = p + fan_out * fan_in
                for j in range(fan_out):
                    s = 0.0
                    for i in range(n):
                        s += rdelta[i, j]
                    out[pb + j] = s
            if l > 0:
                shift = 0 if use_second else n * max_w
                prev = work[d_base + shift : d_base + shift + n * fan_in].reshape((n, fan_in))
                rprev = work[rd_base + shift : rd_base + shift + n * fan_in].reshape((n, fan_in))
                z0 = _z_offset(widths, n, l - 1)
                Z_in = work[z0 : z0 + n * fan_in].reshape((n, fan_in))
                RZ_in = work[rz_base + z0 : rz_base + z0 + n * fan_in].reshape((n, fan_in))
                for i in range(n):
                    for m in range(fan_in):
                        prev[i, m] = 0.0
                        rprev[i, m] = 0.0
                    for j in range(fan_out):
                        d = delta[i, j]
                        rd = rdelta[i, j]
                        for m in range(fan_in):
                            prev[i, m] += d * W[j, m]
                            rprev[i, m] += rd * W[j, m] + d * V[j, m]
                    for m in range(fan_in):
                        z = Z_in[i, m]
                        g = prev[i, m]
                        prev[i, m] = g * df(z)
                        rprev[i, m] = rprev[i, m] * df(z) + g * d2f(z) * RZ_in[i, m]
                delta = prev
                rdelta = rprev
                use_second = not use_second
        return total / n

    @njit(sig.HVP, fastmath=FASTMATH, cache=True)
    def hvp(prob, theta, v, out):
        """Write ∇²L(θ)·v into ``out``; return L(θ)."""
        X, Y, widths, bias, work = prob
        forward(theta, X, widths, bias, work)
        return r_pass(prob, theta, v, out)

    @njit(sig.HESSIAN, fastmath=FASTMATH, cache=True)
    def hessian(prob, theta, H):
        """Write the dense ∇²L(θ) (P × P) into ``H``; return L(θ)."""
        X, Y, widths, bias, work = prob
        P = theta.size
        forward(theta, X, widths, bias, work)
        v = work[work.size - P :]
        v[:] = 0.0
        loss = 0.0
        for p in range(P):
            v[p] = 1.0
            loss = r_pass(prob, theta, v, H[p])
            v[p] = 0.0
        for p in range(P):
            for q in range(p):
                s = 0.5 * (H[p, q] + H[q, p])
                H[p, q] = s
                H[q, p] = s
        return loss

    return hvp, hessian
