"""How a failure reads in a run's reason, a rule's note or a command's message."""


def first_line(exc, limit=None):
    """The first line of an exception's message (Spark's run to pages), or its type when it says nothing."""
    text = str(exc).strip().splitlines()
    return text[0][:limit] if text else type(exc).__name__
