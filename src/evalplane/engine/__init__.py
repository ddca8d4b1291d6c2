"""The evaluation engine: workers, scheduler, evaluators, LLM providers and the code sandbox.

Nothing in this package imports the API layer; evaluators and providers never touch the
database (the worker hands them values and stores what they return).
"""
