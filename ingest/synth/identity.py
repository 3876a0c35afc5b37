"""Who stands behind each merchant: owners, phones, devices, bank accounts, addresses, agents.

Identifiers are integer codes here (``-1`` = none); the writer turns them into text.
Honest sharing follows how small merchants really work: a chain's shops share their
owner and often the owner's phone and bank account; a family running several shops
shares a phone; market stalls often register the market's address; some agents
register shops with their own phone as the device; and a few unrelated merchants
share an identifier by coincidence (a recycled phone number, the same building).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from guanxi.ingest.synth.pools import CITIES, STREETS

__all__ = ["AddressBook", "Codes", "assign_identifiers"]


@dataclass
class Codes:
    """Next free code of each identifier kind, so rings can mint fresh ones."""

    person: int = 0
    phone: int = 0
    device: int = 0
    bank: int = 0

    def fresh(self, kind: str, n: int) -> np.ndarray:
        start = getattr(self, kind)
        setattr(self, kind, start + n)
        return np.arange(start, start + n, dtype=np.int64)


@dataclass
class AddressBook:
    """Address texts by code; shop addresses are unique per (district, street, number)."""

    district_names: list[str]
    city_of_district: np.ndarray
    rng: np.random.Generator
    texts: list[str] = field(default_factory=list)
    _used: dict[int, int] = field(default_factory=dict)
    _streets: dict[int, np.ndarray] = field(default_factory=dict)

    def shops(self, districts: np.ndarray) -> np.ndarray:
        """New unique street addresses, one per entry of ``districts``."""
        codes = np.empty(len(districts), np.int64)
        for i, d in enumerate(districts.tolist()):
            codes[i] = self._add(self._street_address(d))
        return codes

    def market(self, district: int, k: int) -> int:
        """A new farmers' market address in ``district`` (``k`` picks the market's name)."""
        base = self._street_address(district)
        return self._add(f"{base}{STREETS[k % len(STREETS)][:-1]}农贸市场")

    def stall(self, market_code: int, number: int) -> int:
        """A stall's own address inside a market."""
        return self._add(f"{self.texts[market_code]}{number}号摊位")

    def _street_address(self, d: int) -> str:
        # The r-th address of a district walks the district's streets in a fixed random
        # order, then the house numbers: unique without a lookup.
        if d not in self._streets:
            self._streets[d] = self.rng.permutation(len(STREETS))
        r = self._used.get(d, 0)
        self._used[d] = r + 1
        street = STREETS[self._streets[d][r % len(STREETS)]]
        number = r // len(STREETS) * 2 + 1 + int(self._streets[d][0] % 2)
        city = CITIES[int(self.city_of_district[d])][0]
        return f"{city}{self.district_names[d]}{street}{number}号"

    def _add(self, text: str) -> int:
        self.texts.append(text)
        return len(self.texts) - 1


def assign_identifiers(rng: np.random.Generator, group: np.ndarray, chain: np.ndarray,
                       district: np.ndarray, city: np.ndarray, category_code: np.ndarray,
                       agent: np.ndarray, agent_device: np.ndarray, market: np.ndarray,
                       market_address: np.ndarray, book: AddressBook, codes: Codes,
                       coincidence: float, agent_device_rate: float) -> dict[str, np.ndarray]:
    """Owner, phone, device, bank account and address codes for every merchant.

    Parameters
    ----------
    group : (N,) int
        Business group of each merchant; members of one group are contiguous.
    chain : (N,) bool
        Whether the merchant's group is a chain (one owner) rather than a family.
    category_code : (N,) str
        Category codes (``"market_stall"`` decides printed QR codes and market addresses).
    agent, agent_device : (N,) int, (A,) int
        Onboarding agent per merchant (-1 none) and each agent's own device code.
    market, market_address : (N,) int, (K,) int
        Market of each stall (-1 none) and each market's address code.

    Returns
    -------
    dict of (N,) int64 arrays: ``owner``, ``phone``, ``device``, ``bank``, ``address``.
    """
    n = len(group)
    first = np.r_[True, group[1:] != group[:-1]]
    leader = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    in_group = ~first | np.r_[group[1:] == group[:-1], False]
    family = in_group & ~chain

    # Owners: one per chain, one per shop otherwise (families are several relatives).
    shop_owner = codes.fresh("person", n)
    owner = np.where(chain, shop_owner[leader], shop_owner)

    # Phones: the owner's phone by default; a chain shop sometimes has its own line;
    # a family often gives every shop the same family phone.
    owner_phone = codes.fresh("phone", n)
    phone = owner_phone[owner - shop_owner[0]] if n else owner_phone
    own_line = chain & (rng.random(n) < 0.3)
    phone = np.where(own_line, codes.fresh("phone", n), phone)
    family_phone = family & (rng.random(n) < 0.5)
    phone = np.where(family_phone, phone[leader], phone)

    # Devices: printed QR stickers need none (stalls, breakfast carts); families next
    # door sometimes share a tablet; some agents register shops on their own phone.
    printed = rng.random(n) < np.select([category_code == "market_stall", category_code == "snack"],
                                        [0.3, 0.2], 0.05)
    device = np.where(printed, -1, codes.fresh("device", n))
    share_tab = family & (rng.random(n) < 0.1) & (device[leader] >= 0)
    device = np.where(share_tab, device[leader], device)
    by_agent = (agent >= 0) & ~printed & (rng.random(n) < agent_device_rate)
    device = np.where(by_agent, agent_device[np.maximum(agent, 0)], device)

    # Bank accounts: chains often settle into the owner's one account.
    bank = codes.fresh("bank", n)
    shared_bank = (chain & (rng.random(n) < 0.6)) | (family & (rng.random(n) < 0.2))
    bank = np.where(shared_bank, bank[leader], bank)

    # Addresses: stalls half the time give the market's address; family shops next door.
    address = book.shops(district)
    use_market = (market >= 0) & (rng.random(n) < 0.5)
    address[use_market] = market_address[market[use_market]]
    own_stall = (market >= 0) & ~use_market
    stall_no: dict[int, int] = {}
    for i in np.flatnonzero(own_stall).tolist():
        k = int(market[i])
        stall_no[k] = stall_no.get(k, 0) + 1 + int(rng.integers(0, 3))  # some stalls vacant
        address[i] = book.stall(int(market_address[k]), stall_no[k])
    next_door = family & (rng.random(n) < 0.25)
    address = np.where(next_door, address[leader], address)

    # Coincidences between unrelated merchants of the same city.
    for arr, scale in ((phone, 1.0), (device, 0.5), (address, 0.5)):
        pick = np.flatnonzero(rng.random(n) < coincidence * scale)
        other = _same_city_partner(rng, pick, city)
        ok = arr[other] >= 0
        arr[pick[ok]] = arr[other[ok]]
    return {"owner": owner, "phone": phone, "device": device, "bank": bank, "address": address}


def _same_city_partner(rng: np.random.Generator, pick: np.ndarray, city: np.ndarray) -> np.ndarray:
    """A random merchant of the same city for each index in ``pick``."""
    order = np.argsort(city, kind="stable")
    sorted_city = city[order]
    lo = np.searchsorted(sorted_city, city[pick], side="left")
    hi = np.searchsorted(sorted_city, city[pick], side="right")
    return order[lo + (rng.random(len(pick)) * (hi - lo)).astype(np.int64)]
