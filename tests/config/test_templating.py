"""mirrord's documented templating subset (podtap/core/config/templating.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from podtap.core.config.templating import TemplateError, find_git_branch, render


def r(text: str, **env: str) -> str:
    return render(text, variables={"key": "K", "git_branch": "main"}, env=env).text


def test_variables_functions_and_default() -> None:
    assert r("a {{ key }} b {{git_branch}}") == "a K b main"
    assert r('{{ get_env(name="X", default="d") }}') == "d"
    assert r("{{ get_env(default='d', name='X') }}", X="set") == "set"
    assert r("{{ nope | default(value='fb') }}") == "fb"
    assert r("{{ key | default(value='fb') }}") == "K"
    assert r('{{ get_env(name="P", default=8080) }}') == "8080"
    assert r("x {# a comment {{ nope }} #}y") == "x y"
    assert r("a  {{- key -}}  b") == "aKb"
    assert r('{"a": {"b": 1}} {{ "}}" }}') == '{"a": {"b": 1}} }}'
    used = render("{{ key }} {{ x | default(value='') }}", variables={"key": "K"}, env={}).used
    assert used == {"key", "x"}


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a\nb {{ nope }}", 2, "variable nope is not defined"),
        ('{{ get_env(name="NOPE") }}', 1, "NOPE is not set"),
        ("\n\n{% if a %}", 3, "statements"),
        ("{{ key | upper }}", 1, "unknown filter upper"),
        ("{{ now() }}", 1, "unknown function now()"),
        ("{{ get_env(nam='X') }}", 1, "get_env takes"),
        ("{{ key", 1, "not closed"),
        ("{{ key key }}", 1, "unexpected"),
        ("{{ ; }}", 1, "cannot read"),
    ],
)
def test_errors_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(TemplateError) as e:
        render(text, variables={"key": "K"}, env={})
    assert e.value.line == line and words in str(e.value) and "\n" not in str(e.value)


def test_git_branch(tmp_path: Path) -> None:
    assert find_git_branch(tmp_path, {"MIRRORD_BRANCH_NAME": "b1"}) == "b1"
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/feat/x\n")
    (tmp_path / "sub").mkdir()
    assert find_git_branch(tmp_path / "sub", {}) == "feat/x"
    (tmp_path / ".git" / "HEAD").write_text("0123abcd\n")  # detached: undefined, as in mirrord
    assert find_git_branch(tmp_path, {}) is None
