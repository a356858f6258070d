"""Where the program deploys: partition, region and account, asked of the AWS provider once."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class Account:
    partition: str
    region: str
    account_id: str


def current_account() -> pulumi.Output[Account]:
    return pulumi.Output.all(
        aws.get_partition_output().partition,
        aws.get_region_output().region,
        aws.get_caller_identity_output().account_id,
    ).apply(lambda values: Account(*values))
