"""What several commands' parsers share."""
import argparse


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


RAY_ADDRESS_HELP = ("run on this existing Ray cluster instead of a new local Ray (without it, RAY_ADDRESS and a "
                    "running `ray start` cluster are ignored)")
