"""Test helpers shared by podtap's tests and examples (no production code imports this)."""

from podtap.testing.playbook import IGNORE, PlaybookFailure, Raises, Step, play

__all__ = ["IGNORE", "PlaybookFailure", "Raises", "Step", "play"]
