"""Small tests on the plain values an ODCS document holds."""


def is_number(value):
    """An int or a float; a bool is not a number here, though Python says it is an int."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
