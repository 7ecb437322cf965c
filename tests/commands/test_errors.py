"""One line per user error: a library's `SettingError` is named by the flag a command reads the setting from."""
import argparse

from attention_perturb.commands.errors import one_line
from attention_perturb.errors import SettingError


def test_a_setting_is_named_by_its_long_flag_its_positional_name_or_itself():
    parser = argparse.ArgumentParser()
    parser.add_argument("-o", "--output-dir", dest="output")
    parser.add_argument("-s", dest="seed")
    parser.add_argument("folder")
    parser.add_argument("archives", metavar="ARCHIVE", nargs="+")
    named = {setting: one_line(SettingError(setting, "is  wrong\n here"), parser)
             for setting in ("output", "seed", "folder", "archives", "unread")}
    assert named == {"output": "error: --output-dir: is wrong here", "seed": "error: -s: is wrong here",
                     "folder": "error: folder: is wrong here", "archives": "error: ARCHIVE: is wrong here",
                     "unread": "error: unread: is wrong here"}
    assert one_line(SettingError("seed", "is wrong")) == "error: seed: is wrong"  # no parser: the setting's name
