"""The test settings with some settings replaced by bad values.

``BAD_SETTINGS`` holds a JSON object of setting name -> Python literal
source (``ast.literal_eval``), so a test can start ``manage.py check`` with
any wrong type or value and see what a user would see at startup.
"""

from __future__ import annotations

import ast
import json
import os

from tests.settings import *  # noqa: F403

for _name, _source in json.loads(os.environ.get("BAD_SETTINGS", "{}")).items():
    globals()[_name] = ast.literal_eval(_source)
