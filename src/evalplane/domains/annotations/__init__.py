"""Human annotations: the configs a space allows, and annotations written on spans."""
