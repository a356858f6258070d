"""The origin secret in two slots, so `originSecretVersion` rotates it without a window of 403s.

Each version bump regenerates exactly one slot (its keeper changes) and makes it the current secret; the other
slot keeps the secret the live deployment sends, and the function accepts both. Order does the rest: the
function is updated (accepting old and new) before the API deployment that sends the new one goes live, and the
old secret stays accepted until the next bump.

    version   slot a keeper   slot b keeper   sent (current)   also accepted (previous)
    1         1               0               a                b
    2         1               1 (new b)       b                a
    3         2 (new a)       1               a                b
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random

SECRET_LENGTH = 48


@dataclass(frozen=True)
class OriginSecrets:
    current: pulumi.Output[str]
    previous: pulumi.Output[str]


def slot_keepers(version: int) -> tuple[int, int]:
    """The keepers of slots a and b at `version`: a bump changes exactly one of them."""
    return (version + 1) // 2, version // 2


def origin_secrets(name: str, version: int, child: pulumi.ResourceOptions) -> OriginSecrets:
    keeper_a, keeper_b = slot_keepers(version)
    slot_a = random.RandomPassword(
        # Round 1's name and, for its first generation, no keepers: existing stacks keep their secret.
        f"{name}-origin-secret",
        length=SECRET_LENGTH,
        special=False,
        keepers={"rotation": str(keeper_a)} if keeper_a > 1 else None,
        opts=child,
    )
    slot_b = random.RandomPassword(
        f"{name}-origin-secret-b",
        length=SECRET_LENGTH,
        special=False,
        keepers={"rotation": str(keeper_b)},
        opts=child,
    )
    # Explicitly secret, so every place they flow into (env, request parameters) is encrypted in state.
    a, b = pulumi.Output.secret(slot_a.result), pulumi.Output.secret(slot_b.result)
    # The slot regenerated last is current: a on odd versions, b on even ones.
    return OriginSecrets(current=a, previous=b) if version % 2 else OriginSecrets(current=b, previous=a)
