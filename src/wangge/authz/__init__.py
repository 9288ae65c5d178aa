"""Authorisation: subjects, permissions and the one scoping choke point (``scope.readable``)."""
