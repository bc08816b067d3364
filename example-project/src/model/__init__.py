"""A diabetes classifier, in the shape of the Microsoft Learn MLOps exercise."""
