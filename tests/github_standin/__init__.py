"""A loopback stand-in of GitHub's REST API, for the tests of `mlops-actions setup` and of the pull-request
comment: repositories and their permissions, branches, branch protection, rulesets (read), environments and
their deployment branch policies, Actions variables, users and teams, Dependabot alerts, issue comments.

It is a stand-in, not GitHub. Every rule it enforces is taken from GitHub's REST documentation
(docs.github.com/en/rest, API version 2022-11-28), cited where it is enforced; what it does not do is said
in service.py's docstring. Tests configure it (tokens with their scopes, repositories, who is an admin) and
read its state and its count of writes.
"""

from github_standin.service import GitHub, Repository, Token

__all__ = ["GitHub", "Repository", "Token"]
