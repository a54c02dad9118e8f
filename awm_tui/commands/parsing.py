"""The commands' argument parser: a mistake on the command line is one paragraph and exit status 2, as every other
mistake (awm.errors.UserError), not argparse's usage block. Only argparse at import time."""

from __future__ import annotations

import argparse


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse calls it for an unknown flag, a missing argument, a bad choice or type
        from awm.errors import UserError

        command = self.prog.removeprefix("awm-tui").strip()  # printed after "awm-tui: "
        raise UserError(f"{command + ': ' if command else ''}{message}. See `{self.prog} --help` for the arguments "
                        "and options.")
