"""LiverView desktop app. `python main.py --demo` opens the synthetic multi-phase demo study."""

import sys

from liverview.ui.app import run

if __name__ == "__main__":
    sys.exit(run())
