from __future__ import annotations

import sys

from nodered_causal.cli import main

sys.exit(main())
