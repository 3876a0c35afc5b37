"""Parameters of one synthetic run and the difficulty profiles they select.

A run is fully described by :class:`SynthParams`; the same parameters always give
byte-identical files. The difficulty picks a :class:`Profile`: how large rings are,
how strongly and how completely their members show each signal, and how often honest
merchants show look-alikes of those signals (camouflage).
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass

import numpy as np

from guanxi.errors import InputError

__all__ = [
    "DIFFICULTIES",
    "FORMATS",
    "GENERATOR_VERSION",
    "MAX_MERCHANTS",
    "MIN_MERCHANTS",
    "PROFILES",
    "TYPOLOGIES",
    "Profile",
    "SynthParams",
    "stream",
]

GENERATOR_VERSION = "1.0.0"
"""Bumped whenever the same parameters would give different files."""

TYPOLOGIES: tuple[str, ...] = (
    "circular_trading",
    "promotion_farming",
    "cash_out",
    "shell_merchants",
    "fake_supply_chain",
)
DIFFICULTIES: tuple[str, ...] = ("easy", "medium", "hard")
FORMATS: tuple[str, ...] = ("csv", "parquet")
MIN_MERCHANTS = 100
MAX_MERCHANTS = 2_000_000
"""Merchant ids are ``M`` + 7 digits and consumer ids ``C`` + 8 digits; this keeps both unique."""


@dataclass(frozen=True)
class Profile:
    """Knobs of one difficulty level.

    Ring side: ``size`` is the (min, max) ring size; ``participation`` the chance that a
    member shows a given signal of its typology; ``intensity`` scales how many ring
    transactions there are; ``round_share`` the share of ring amounts that are round;
    ``shared_id`` the chance that a shell or cash-out member takes a ring identifier;
    ``ring_popularity`` scales the genuine customer traffic ring members keep;
    ``reg_spread`` is the days over which a shell ring registers; ``recruited`` the
    share of a ring's fake payers that are real consumers with ordinary histories;
    ``shell_age`` how many days before the data year a shell ring may have registered
    (aged accounts, 养号); ``topups`` honest merchants selling stored-value cards (large
    round customer payments); ``invoicing`` retailers whose invoices are in the data.
    Honest side (look-alikes): ``owner_pays`` merchants whose owner pays other merchants
    from the merchant account; ``cash_and_carry`` retailers paying wholesalers by QR;
    ``qr_settle`` supply links settled by QR; ``own_van`` supply links without any
    shipment record; ``round_invoice`` honest round invoices; ``promo_merchants`` honest
    merchants running a promotion with a burst of customers; ``coincidence`` unrelated
    merchants sharing a phone, device or address; ``agent_device`` agent-onboarded
    merchants registered with the agent's own device; ``dormant`` merchants with almost
    no traffic.
    """

    size: tuple[int, int]
    participation: float
    intensity: float
    round_share: float
    shared_id: float
    ring_popularity: float
    owner_pays: float
    cash_and_carry: float
    qr_settle: float
    own_van: float
    round_invoice: float
    promo_merchants: float
    coincidence: float
    agent_device: float
    dormant: float
    reg_spread: int
    recruited: float
    shell_age: int
    topups: float
    invoicing: float


PROFILES: dict[str, Profile] = {
    "easy": Profile(
        size=(6, 30), participation=1.0, intensity=1.6, round_share=0.95, shared_id=0.95,
        ring_popularity=0.5, owner_pays=0.04, cash_and_carry=0.05, qr_settle=0.15,
        own_van=0.03, round_invoice=0.04, promo_merchants=0.03, coincidence=0.002,
        agent_device=0.002, dormant=0.08, reg_spread=3, recruited=0.0,
        shell_age=60, topups=0.02, invoicing=0.3,
    ),
    "medium": Profile(
        size=(4, 20), participation=0.8, intensity=1.0, round_share=0.7, shared_id=0.7,
        ring_popularity=0.8, owner_pays=0.15, cash_and_carry=0.2, qr_settle=0.3,
        own_van=0.1, round_invoice=0.12, promo_merchants=0.08, coincidence=0.01,
        agent_device=0.02, dormant=0.15, reg_spread=10, recruited=0.25,
        shell_age=365, topups=0.12, invoicing=0.4,
    ),
    "hard": Profile(
        size=(3, 12), participation=0.55, intensity=0.45, round_share=0.4, shared_id=0.3,
        ring_popularity=1.0, owner_pays=0.35, cash_and_carry=0.45, qr_settle=0.5,
        own_van=0.22, round_invoice=0.3, promo_merchants=0.18, coincidence=0.03,
        agent_device=0.06, dormant=0.22, reg_spread=25, recruited=0.5,
        shell_age=1000, topups=0.35, invoicing=0.55,
    ),
}


@dataclass(frozen=True)
class SynthParams:
    """Everything that determines a synthetic run.

    Parameters
    ----------
    merchants : int
        Number of merchants, ``MIN_MERCHANTS`` to ``MAX_MERCHANTS``.
    seed : int, default 7
        Seed of every random draw; same parameters, same bytes.
    difficulty : {"easy", "medium", "hard"}, default "medium"
        Camouflage, ring size and signal strength (see :data:`PROFILES`).
    label_fraction : float, default 0.3
        Share of rings, per typology, whose members are labelled ``fraud``.
    rings_per_10k : float, default 15.0
        Rings per 10,000 merchants, split evenly across the typologies.
    legit_fraction : float, default 0.02
        Share of honest merchants labelled ``legit``.
    loan_fraction : float, default 0.5
        Share of merchants with an observed loan (rows of the ``defaults`` file).
    fmt : {"csv", "parquet"}, default "csv"
        File format of the input files.
    """

    merchants: int
    seed: int = 7
    difficulty: str = "medium"
    label_fraction: float = 0.3
    rings_per_10k: float = 15.0
    legit_fraction: float = 0.02
    loan_fraction: float = 0.5
    fmt: str = "csv"

    def validate(self) -> SynthParams:
        """Return ``self`` if usable, else raise :class:`InputError` naming the fix."""
        if not MIN_MERCHANTS <= self.merchants <= MAX_MERCHANTS:
            raise InputError(
                f"--merchants must be between {MIN_MERCHANTS} and {MAX_MERCHANTS:,}, "
                f"got {self.merchants}",
                f"Try --merchants {max(MIN_MERCHANTS, min(self.merchants, MAX_MERCHANTS))}",
            )
        if self.difficulty not in DIFFICULTIES:
            raise InputError(f"unknown difficulty {self.difficulty!r}",
                             f"Use one of: {', '.join(DIFFICULTIES)}")
        if self.fmt not in FORMATS:
            raise InputError(f"unknown format {self.fmt!r}", f"Use one of: {', '.join(FORMATS)}")
        for name, value in (("--label-fraction", self.label_fraction),
                            ("--legit-fraction", self.legit_fraction),
                            ("--loan-fraction", self.loan_fraction)):
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{name} must be between 0 and 1, got {value}",
                                 f"Try {name} 0.3")
        if not 0.0 <= self.rings_per_10k <= 200.0:
            raise InputError(f"--rings-per-10k must be between 0 and 200, got {self.rings_per_10k}",
                             "Try --rings-per-10k 15")
        if self.seed < 0:
            raise InputError(f"--seed must be a non-negative integer, got {self.seed}",
                             "Try --seed 7")
        return self

    @property
    def profile(self) -> Profile:
        return PROFILES[self.difficulty]

    def ring_counts(self) -> dict[str, int]:
        """Rings per typology: the total rounded, split evenly, remainder to the first ones."""
        total = int(round(self.merchants * self.rings_per_10k / 10_000))
        base, extra = divmod(total, len(TYPOLOGIES))
        return {t: base + (1 if i < extra else 0) for i, t in enumerate(TYPOLOGIES)}

    def as_dict(self) -> dict[str, object]:
        """Parameters as the manifest records them (``fmt`` spelled ``format``, as on the CLI)."""
        d = asdict(self)
        d["format"] = d.pop("fmt")
        return d


def stream(seed: int, name: str, index: int = 0) -> np.random.Generator:
    """An independent generator for one named part (and chunk) of the run.

    Each part draws from its own stream, so changing how one part draws never shifts
    another part's numbers, and chunk ``index`` of a part is the same whatever the
    chunk count before it.
    """
    return np.random.default_rng([seed, zlib.crc32(name.encode()), index])
