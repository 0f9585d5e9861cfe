"""Policies and profiles: their specs, which apply to a session, and what they decide (pure).

The operator finds the objects (``PodtapPolicy``, ``PodtapClusterPolicy``, mirrord's
``MirrordPolicy``/``MirrordClusterPolicy``, and the profile kinds), turns each into a
:class:`~.matching.FoundPolicy` / :class:`~.profiles.FoundProfile` and asks the functions
here; nothing here does I/O. docs/policies.md has the evaluation order and the refusals.
"""
