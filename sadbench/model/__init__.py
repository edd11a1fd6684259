"""The network and its compiled passes: loss, gradient, Hessian-vector products, Hessians, special functions."""
