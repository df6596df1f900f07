"""Test helpers for the problem sets, one module per problem set (``autograder.problems.ps3``).

Test cells import these instead of defining functions themselves, so the tests' logic is read,
reviewed and tested once, here. During grading they run in the judge (the trusted process), so
they follow the judge's rules (docs/architecture.md): student objects are proxies, expected values
come from the judge's own torch/numpy, nothing defined here is handed into student code.
"""
