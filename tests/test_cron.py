import pytest

from mlops_actions import cron


@pytest.mark.parametrize("expression", [
    "0 6 * * 1", "*/15 * * * *", "0 0 1 JAN,JUL MON-FRI", "5 4 * * sun", "0 0-23/2 1-31 1-12 0-6", " 0 6 * * * "])
def test_the_cron_expressions_github_documents_are_accepted(expression):
    assert cron.valid(expression)


@pytest.mark.parametrize("expression", [
    "0 6 * *", "0 6 * * 1 2", "60 * * * *", "0 24 * * *", "0 0 0 * *", "0 0 32 * *", "0 0 * 13 *",
    "0 0 * * 7", "@daily", "0 6 * * MONDAY", "\u0660 6 * * 1", "0 6 * * 1\n0 7 * * 1", "", "*/0 * * * *"])
def test_what_github_would_not_schedule_is_refused(expression):
    assert not cron.valid(expression)
