"""Placeholder: replaced by the issue that builds this command."""


def register(subparsers):
    pass
