"""Operator and developer tools: not part of the server image or the Pulumi program."""
