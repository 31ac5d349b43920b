"""Flax networks and tools on their parameter pytrees (training, landscapes, curvature).

Import the submodules explicitly, e.g. ``from jaxopt_course.models import mlp``.
"""
