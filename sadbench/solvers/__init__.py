"""ODE integrators for the gradient flow: Butcher tableaux, stiff methods, step control and the compiled driver."""
