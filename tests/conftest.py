"""Hooks for the whole suite (fixtures live in each folder's conftest.py).

pytest rewrites the asserts of test modules and conftest files so that a failure shows the values
compared; tests/helpers/ holds checks that once sat in conftest files (a node's start, a page's
response), so its asserts are rewritten too. This must run before anything imports `helpers`.
"""

import pytest

pytest.register_assert_rewrite("helpers")
