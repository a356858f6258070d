"""The pack's entry point: the Pulumi CLI runs this file (`--policy-pack policy`) with policy/ as the working
directory. The policies are imported as the `policy` package, exactly as the tests import them."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.pack import NAME, POLICIES

PolicyPack(NAME, POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
