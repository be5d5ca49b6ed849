"""What the tests share and nothing else: the program run as a user runs it, model ledgers, nodes,
browsers, the purity check.

How this works: pytest puts tests/ on sys.path (pyproject.toml's `pythonpath`), so every test
folder imports these as `from helpers.support import tally`; the conftest.py files hold only
fixtures and hooks, built from these modules. tests/conftest.py asks pytest to rewrite the asserts
here, as it does in test modules, so a failing helper check shows its values.
"""
