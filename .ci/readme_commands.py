"""Print the README's set-up commands, one a line, as CI runs them.

They are the indented command lines of the README's "Set up and run" section that
install the package from the checkout (``pip install .`` or ``pip install ".[...]"``),
with any trailing ``# comment`` removed. The line that installs torch's CPU build is
left out: CI installs the pinned CPU build of torch first.
"""

import re
import sys
from pathlib import Path

SECTION = "## Set up and run"
COMMAND = re.compile(r'^ {4}(pip install (\.|"\.\[[^"]*\]")( .*)?)$')


def setup_commands(readme):
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    commands = []
    for line in section.splitlines():
        match = COMMAND.match(line)
        if match:
            commands.append(re.sub(r"\s+#.*$", "", match[1]).strip())
    return commands


if __name__ == "__main__":
    print("\n".join(setup_commands(Path(sys.argv[1]).read_text())))
