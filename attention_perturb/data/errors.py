class DatasetFormatError(ValueError):
    """Raised for a malformed input line; the message starts with `path:line:`."""

    def __init__(self, path, line_number: int, problem: str) -> None:
        super().__init__(f"{path}:{line_number}: {problem}")
        self.path = str(path)
        self.line_number = line_number
