"""Launch gates over observations, and the capacity report built from them."""
