"""Private-zone records: `<app>.<zone>` and `<process>.<app>.<zone>` alias the internal ALB.

Route53 records carry no tags, so each app also gets an anchor, a TXT record
`_empire.<app>.<zone>` holding its cluster, app id, name and the names of its records.
A submit reads only its anchor (one call) and changes the zone only when the names differ;
`remove` and `prune` read every anchor of the zone and delete the records an anchor lists
that still alias the internal ALB, so a record someone else made is never touched.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from empire.scheduler.ecs.aws import Aws
from empire.scheduler.ecs.balancers import Balancers
from empire.scheduler.ecs.config import APP, APP_ID, CLUSTER_TAG, EcsConfig

ANCHOR = "_empire"
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, slots=True)
class Anchor:
    cluster: str
    app_id: str
    app: str
    names: tuple[str, ...]  # relative to the zone: "acme", "web.acme"

    def value(self) -> str:
        """The TXT value: quoted strings of at most 255 characters, as DNS allows."""
        parts = [f"{CLUSTER_TAG}={self.cluster}", f"{APP_ID}={self.app_id}"]
        parts.append(f"{APP}={self.app}")
        batch: list[str] = []
        for name in self.names:
            if batch and len(f"records={','.join([*batch, name])}") > 250:
                parts.append(f"records={','.join(batch)}")
                batch = []
            batch.append(name)
        if batch:
            parts.append(f"records={','.join(batch)}")
        return " ".join(f'"{p}"' for p in parts)

    @classmethod
    def parse(cls, value: str) -> Anchor | None:
        fields: dict[str, str] = {}
        names: list[str] = []
        for part in _QUOTED.findall(value):
            key, _, text = part.partition("=")
            if key == "records":
                names.extend(n for n in text.split(",") if n)
            else:
                fields[key] = text
        if APP_ID not in fields:
            return None
        return cls(
            fields.get(CLUSTER_TAG, ""),
            fields[APP_ID],
            fields.get(APP, ""),
            tuple(names),
        )


class Records:
    """The app's records in the private hosted zone."""

    def __init__(self, aws: Aws, config: EcsConfig, balancers: Balancers) -> None:
        self._aws = aws
        self._config = config
        self._balancers = balancers
        self._zone: str | None = None
        self._guard = threading.Lock()

    def zone(self) -> str:
        """The zone's name, without the final dot (looked up once)."""
        with self._guard:
            if self._zone is None:
                found = self._aws.must(
                    "describe the hosted zone",
                    self._aws.route53.get_hosted_zone,
                    Id=self._config.hosted_zone_id,
                )
                self._zone = str(found["HostedZone"]["Name"]).rstrip(".")
            return self._zone

    def converge(self, app_id: str, app: str, names: Sequence[str]) -> None:
        """Make the app's records exactly `names` (relative to the zone), and its anchor."""
        want = Anchor(self._config.cluster_name, app_id, app, tuple(sorted(set(names))))
        have = self.anchor(app)
        if have == want:
            return
        changes = [self._change("UPSERT", n) for n in want.names]
        changes.append(self._anchor_change("UPSERT", want))
        self._apply(f"update the records of {app}", changes)
        stale = sorted(set(have.names) - set(want.names)) if have else []
        if stale:
            self._apply(
                f"delete stale records of {app}",
                [self._change("DELETE", n) for n in stale],
                tolerant=True,
            )

    def anchor(self, app: str) -> Anchor | None:
        name = self._fqdn(f"{ANCHOR}.{app}")
        found = self._aws.must(
            f"read the record anchor of {app}",
            self._aws.route53.list_resource_record_sets,
            HostedZoneId=self._config.hosted_zone_id,
            StartRecordName=name,
            StartRecordType="TXT",
            MaxItems="1",
        )
        for record in found.get("ResourceRecordSets", []):
            if record.get("Name") == name and record.get("Type") == "TXT":
                return _read_anchor(record)
        return None

    def anchors(self) -> list[Anchor]:
        """Every anchor of this installation in the zone."""
        found = []
        for record in self._records():
            if record.get("Type") == "TXT" and str(record.get("Name", "")).startswith(f"{ANCHOR}."):
                anchor = _read_anchor(record)
                if anchor is not None and anchor.cluster == self._config.cluster_name:
                    found.append(anchor)
        return found

    def delete(self, anchor: Anchor) -> None:
        """Delete the anchor and the records it lists that still alias the internal ALB."""
        target = _dns(self._balancers.internal().dns_name)
        mine = {self._fqdn(n) for n in anchor.names}
        changes = []
        for record in self._records():
            alias = record.get("AliasTarget") or {}
            if record.get("Name") in mine and _dns(alias.get("DNSName", "")) == target:
                changes.append({"Action": "DELETE", "ResourceRecordSet": record})
        if changes:
            self._apply(f"delete the records of {anchor.app}", changes, tolerant=True)
        self._apply(
            f"delete the record anchor of {anchor.app}",
            [self._anchor_change("DELETE", anchor)],
            tolerant=True,
        )

    def _records(self) -> Iterator[Any]:
        start: dict[str, str] = {}
        while True:
            page = self._aws.must(
                "list the hosted zone's records",
                self._aws.route53.list_resource_record_sets,
                HostedZoneId=self._config.hosted_zone_id,
                **start,
            )
            yield from page.get("ResourceRecordSets", [])
            if not page.get("IsTruncated"):
                return
            start = {"StartRecordName": page["NextRecordName"]}
            if page.get("NextRecordType"):
                start["StartRecordType"] = page["NextRecordType"]
            if page.get("NextRecordIdentifier"):
                start["StartRecordIdentifier"] = page["NextRecordIdentifier"]

    def _change(self, action: str, name: str) -> dict[str, Any]:
        balancer = self._balancers.internal()
        return {
            "Action": action,
            "ResourceRecordSet": {
                "Name": self._fqdn(name),
                "Type": "A",
                "AliasTarget": {
                    "HostedZoneId": balancer.zone_id,
                    "DNSName": balancer.dns_name,
                    "EvaluateTargetHealth": False,
                },
            },
        }

    def _anchor_change(self, action: str, anchor: Anchor) -> dict[str, Any]:
        return {
            "Action": action,
            "ResourceRecordSet": {
                "Name": self._fqdn(f"{ANCHOR}.{anchor.app}"),
                "Type": "TXT",
                "TTL": 300,
                "ResourceRecords": [{"Value": anchor.value()}],
            },
        }

    def _apply(self, action: str, changes: list[dict[str, Any]], *, tolerant: bool = False) -> None:
        """Send one change batch; `tolerant` deletes ignore records already gone or changed."""
        self._aws.call(
            action,
            self._aws.route53.change_resource_record_sets,
            ok=("InvalidChangeBatch", "InvalidInput") if tolerant else (),
            HostedZoneId=self._config.hosted_zone_id,
            ChangeBatch={"Comment": "empire", "Changes": changes},
        )

    def _fqdn(self, name: str) -> str:
        return f"{name}.{self.zone()}."


def _read_anchor(record: Any) -> Anchor | None:
    values = [r.get("Value", "") for r in record.get("ResourceRecords", [])]
    return Anchor.parse(" ".join(values))


def _dns(name: str) -> str:
    return name.lower().rstrip(".").removeprefix("dualstack.")
