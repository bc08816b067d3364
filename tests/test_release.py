"""scripts/release against temporary git repositories; the version's one source."""

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

import mlops_actions

ROOT = Path(__file__).resolve().parents[1]
CHANGELOG = """# Changelog

## [Unreleased]

### Added

- {change}

## [0.1.0] - 2026-01-01

- The first.
"""


def git(repo, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "src" / "mlops_actions").mkdir(parents=True)
    (tmp_path / "src" / "mlops_actions" / "__init__.py").write_text('"""x"""\n\n__version__ = "0.1.0"\n')
    (tmp_path / "CHANGELOG.md").write_text(CHANGELOG.format(change="A thing."))
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "start")
    git(tmp_path, "tag", "-a", "v0.1.0", "-m", "v0.1.0")
    return tmp_path


def release(repo, version):
    # the tests' git identity, for the release commit and tags
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@localhost", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "release"), version, "--repo", str(repo)],
                          capture_output=True, text=True, env=env)


def tags(repo):
    return git(repo, "tag", "--list").split()


def test_a_release_moves_unreleased_commits_tags_and_moves_the_major_tag(repo):
    result = release(repo, "1.0.0")
    assert result.returncode == 0, result.stderr
    assert "git push origin HEAD v1.0.0 && git push --force origin v1" in result.stdout
    changelog = (repo / "CHANGELOG.md").read_text()
    assert changelog.startswith("# Changelog\n\n## [Unreleased]\n\n## [1.0.0] - ")
    assert changelog.index("## [1.0.0]") < changelog.index("- A thing.") < changelog.index("## [0.1.0]")
    assert '__version__ = "1.0.0"' in (repo / "src/mlops_actions/__init__.py").read_text()
    assert git(repo, "log", "-1", "--format=%s") == "Release v1.0.0"
    assert git(repo, "cat-file", "-t", "v1.0.0") == "tag"  # annotated
    head = git(repo, "rev-parse", "HEAD")
    assert git(repo, "rev-parse", "v1.0.0^{}") == git(repo, "rev-parse", "v1^{}") == head
    assert git(repo, "status", "--porcelain") == ""

    (repo / "CHANGELOG.md").write_text((repo / "CHANGELOG.md").read_text().replace(
        "## [Unreleased]\n", "## [Unreleased]\n\n### Fixed\n\n- Another.\n"))
    git(repo, "commit", "-qam", "fix")
    assert release(repo, "1.1.0").returncode == 0
    assert git(repo, "rev-parse", "v1^{}") == git(repo, "rev-parse", "HEAD")  # v1 moved on
    assert git(repo, "rev-parse", "v1.0.0^{}") == head  # v1.0.0 did not


@pytest.mark.parametrize("version, prepare, message", [
    ("1.0", None, "'1.0' is not a semantic version"),
    ("v1.0.0", None, "'v1.0.0' is not a semantic version"),
    ("0.0.9", None, "0.0.9 is not above the last release 0.1.0"),
    ("0.1.0", None, "the tag v0.1.0 exists"),
    ("1.0.0", lambda repo: (repo / "x.txt").write_text("dirty"), "the working tree has uncommitted changes"),
    ("1.0.0", lambda repo: ((repo / "CHANGELOG.md").write_text(CHANGELOG.replace("### Added\n\n- {change}\n", "")),
                            git(repo, "commit", "-qam", "empty")), "Unreleased section is empty"),
])
def test_refusals_tag_nothing(repo, version, prepare, message):
    if prepare:
        prepare(repo)
    before = (tags(repo), git(repo, "rev-parse", "HEAD"))
    result = release(repo, version)
    assert result.returncode == 1 and message in result.stderr
    assert (tags(repo), git(repo, "rev-parse", "HEAD")) == before


def test_the_version_has_one_source():
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")  # tomli: Python 3.10
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "mlops_actions.__version__"}
    assert "version" in project["project"]["dynamic"]
    assert importlib.metadata.version("mlops-actions") == mlops_actions.__version__


def test_an_input_gone_since_the_last_release_is_refused(repo):
    action = repo / "actions" / "lint" / "action.yml"
    action.parent.mkdir(parents=True)
    action.write_text("name: lint\ninputs:\n  paths:\n    description: p\n  config:\n    description: c\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "lint")
    assert release(repo, "1.0.0").returncode == 0
    action.write_text("name: lint\ninputs:\n  paths:\n    description: p\n")
    (repo / "CHANGELOG.md").write_text((repo / "CHANGELOG.md").read_text().replace(
        "## [Unreleased]\n", "## [Unreleased]\n\n- Dropped config.\n"))
    git(repo, "commit", "-qam", "drop config")
    refused = release(repo, "1.1.0")
    assert refused.returncode == 1 and "actions/lint/action.yml: config" in refused.stderr
    assert release(repo, "2.0.0").returncode == 0  # a new major version may drop it
