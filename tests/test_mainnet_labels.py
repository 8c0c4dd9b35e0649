"""notebooks/data/mainnet_labels.csv, the names the notebooks give well-known mainnet
addresses (notebooks/data/README.md), and how notebooks/common.py shows addresses and slots."""

from __future__ import annotations

import csv
import re

import pytest

from notebooks import common

pytestmark = pytest.mark.unit

CATEGORIES = {"token", "dex", "bridge", "nft", "game", "exchange", "builder", "miner"}
CATEGORIES |= {"staking", "system"}


def rows() -> list[dict[str, str]]:
    with common.LABELS_CSV.open(newline="") as f:
        return list(csv.DictReader(f))


def test_the_labels_file_has_its_header_and_well_formed_rows():
    with common.LABELS_CSV.open(newline="") as f:
        assert next(csv.reader(f)) == ["address", "label", "category", "source"]
    table = rows()
    assert len(table) >= 20
    for row in table:
        assert re.fullmatch(r"0x[0-9a-f]{40}", row["address"]), row
        assert row["label"].strip() == row["label"] and row["label"], row
        assert row["category"] in CATEGORIES, row
        assert re.fullmatch(r"https://[^\s/]+\.[^\s/]+/\S*", row["source"]), row
    addresses = [row["address"] for row in table]
    assert len(addresses) == len(set(addresses)), "an address is listed twice"


def test_the_well_known_contracts_are_named():
    named = {row["address"]: row["label"] for row in rows()}
    assert named["0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"] == "WETH"
    assert named["0xdac17f958d2ee523a2206206994597c13d831ec7"] == "USDT"
    assert "0x00000000219ab540356cbb839cbe05303d7705fa" in named  # the deposit contract


def test_addresses_read_as_label_and_shortened_address_in_plots_and_in_full_in_tables():
    weth = bytes.fromhex("c02aaa39b223fe8d0a0e5c4f27ead9083c756cc2")
    unknown = bytes.fromhex("76d31201ae2acedcdfecd304cf955c3ca08a222d")
    assert common.label(weth) == "WETH (0xc02aaa39…6cc2)"
    assert common.label("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2") == "WETH (0xc02aaa39…6cc2)"
    assert common.label(unknown) == "0x76d31201…222d"
    assert common.label(None) == "contract creation"
    assert common.full(weth) == "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
    with pytest.raises(ValueError):
        common.label(b"\x01" * 19)


def test_slots_lose_leading_zeros_and_are_cut_with_an_ellipsis():
    assert common.slot_hex(bytes(32)) == "0x0"
    assert common.slot_hex((5).to_bytes(32, "big")) == "0x5"
    long = bytes.fromhex("2e1a6f07" + "00" * 24 + "83c4d21e")
    assert common.slot_hex(long) == "0x2e1a6f07…83c4d21e"
