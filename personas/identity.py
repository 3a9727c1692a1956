"""Synthetic participants: seeded, deterministic identities that are never real people's data.

    factory = IdentityFactory(scenario, seed=7)
    user = factory.new(factory.persona_for(rng))          # "normal-000000", phone "13…", ...
    friend = factory.invitee(link, invite_code="K7Q2", arrival_t=1800.0)

Names come from Faker (zh_CN); phones, addresses and device ids from a seeded `random.Random`.
Phones and normal users' addresses are handed out by affine permutations of a serial number,
so they are distinct without keeping a set of everything issued.

Outside a run folder's private/ part a phone number is never shown in full: `PhoneMask` turns
the run's own numbers, and anything shaped like a mainland mobile number, into 138****5678.
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
import random
import re
from dataclasses import dataclass, field
from typing import Iterable

from faker import Faker

from rehearse.scenarios import Scenario
from rehearse.scenarios.target import FILTERS
from rehearse.scenarios.people import Mix, PERSONA_NAMES

MOBILE_PREFIXES = tuple(
    str(p) for p in itertools.chain(range(130, 140), range(150, 160), range(180, 190)) if p != 154
)
"""Real mainland mobile prefixes of the big three carriers (154 was never assigned)."""

CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
"""Normal users' addresses: the carrier-grade NAT range, never a real subscriber's address."""

OPERATOR_NET = ipaddress.IPv4Network("10.0.0.0/8")
"""Fraud operators' /24s are carved out of this private range."""

HOSTS_PER_24 = 254
NAME_POOL = 512

MOBILE_SHAPE = re.compile(r"(?<!\d)(?P<country>(?:\+|00)?86[\s-]?)?(?P<number>1[3-9]\d(?:[\s-]?\d{4}){2})(?!\d)")
"""A mainland mobile number as it may be written anywhere: 13812345678, +8613812345678,
+86 138 1234 5678, 0086-138-1234-5678 (not inside a longer run of digits)."""
KNOWN_MIN_DIGITS = 7
"""A known number shorter than this is not masked by value (it would mask ordinary figures)."""


def masked_phone(phone: str) -> str:
    """A phone number as screens show it: 138****5678 (synthetic or not, never in full)."""
    digits = re.sub(r"[\s-]", "", phone)
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 8 else "****"


class PhoneMask:
    """Text fit to show or write outside a run's private/ folder: every phone number masked.

    By value, the numbers given (the run's identities: any segment, a virtual one too), wherever
    they appear; by shape, anything that looks like a mainland mobile number, so a number a
    backend echoes, or one the harness never issued, is caught too.

        PhoneMask(["10012345678"])('{"phone": "10012345678", "hotline": "+86 139 1234 5678"}')
        # '{"phone": "100****5678", "hotline": "+86 139****5678"}'
    """

    def __init__(self, known: Iterable[str] = ()) -> None:
        self._known: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for phone in known:
            self.add(phone)

    def add(self, phone: str) -> None:
        """Mask this number by value from now on."""
        if len(phone) >= KNOWN_MIN_DIGITS and phone not in self._known:
            self._known.add(phone)
            self._pattern = None

    def __call__(self, text: str) -> str:
        if self._known:
            if self._pattern is None:  # longest first: a number inside another is masked as the longer one
                self._pattern = re.compile("|".join(map(re.escape, sorted(self._known, key=len, reverse=True))))
            text = self._pattern.sub(lambda m: masked_phone(m.group(0)), text)
        return MOBILE_SHAPE.sub(lambda m: (m.group("country") or "") + masked_phone(m.group("number")), text)


@dataclass
class FraudOperator:
    """One fraud operation: many accounts behind a few addresses and devices."""

    operator_id: str
    ips: list[str]
    devices: list[str]
    accounts_made: int = 0
    ring_codes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Identity:
    """One synthetic participant, as journeys and target-contract templates see it."""

    persona: str
    user_key: str
    phone: str
    name: str
    channel: str
    ip: str
    device_id: str
    arrival_t: float = 0.0
    invite_code: str | None = None
    link: str | None = None
    operator: FraudOperator | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """The participant's key, unique in the run ("normal-000042", "harness/prober-000004")."""
        return self.user_key

    @property
    def email(self) -> str:
        """A synthetic address unique to the participant, on the reserved example.com domain."""
        return FILTERS["email"](self.user_key)


class _Permutation:
    """Serial numbers 0, 1, 2... mapped one-to-one onto 0..size-1 in a seeded, scrambled order.
    Lane `lane` of `lanes` takes every lanes-th serial from `lane` on: permutations of one seed
    handed out in different lanes never give the same value."""

    def __init__(self, size: int, rng: random.Random, lane: int = 0, lanes: int = 1) -> None:
        self.size = size
        self.scale = self._coprime(size, rng)
        self.offset = rng.randrange(size)
        self.next_serial = lane
        self.stride = lanes

    @staticmethod
    def _coprime(size: int, rng: random.Random) -> int:
        while True:
            scale = rng.randrange(1, size) | 1 if size > 2 else 1
            if _gcd(scale, size) == 1:
                return scale

    def take(self) -> int:
        if self.next_serial >= self.size:
            raise OverflowError(f"all {self.size // self.stride} values of this range for this lane have been "
                                "handed out")
        value = (self.scale * self.next_serial + self.offset) % self.size
        self.next_serial += self.stride
        return value


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def persona_for(mix: Mix, rng: random.Random) -> str:
    """A persona name drawn by the scenario's `personas.mix` shares."""
    weights = mix.weights()
    return rng.choices(PERSONA_NAMES, weights=[weights[name] for name in PERSONA_NAMES])[0]


class IdentityFactory:
    """Hands out identities for one run; the same scenario and seed give the same identities."""

    def __init__(self, scenario: Scenario, seed: int, key_prefix: str = "", lane: int = 0, lanes: int = 1) -> None:
        """`key_prefix` keeps user keys apart between factories of one run (a swarm's workers,
        the harness's own participants), e.g. "w1/" gives "w1/normal-000000". `lane` of
        `lanes` keeps the phases of one rehearsal apart (the main job's peak and window against
        one target): factories of one seed in different lanes never hand out the same phone
        number or address, and each lane's keys are its own ("lane1/normal-000000")."""
        if not 0 <= lane < lanes:
            raise ValueError(f"lane {lane} of {lanes}: a lane is 0 to {lanes - 1}")
        self.scenario = scenario
        self.seed, self.lane, self.lanes = seed, lane, lanes
        self.key_prefix = key_prefix + (f"lane{lane}/" if lane else "")
        self.rng = random.Random(seed if lane == 0 else f"{seed}/lane{lane}")
        faker = Faker("zh_CN")
        faker.seed_instance(seed)
        # Faker takes ~50 us a name; a seeded pool drawn once keeps identities cheap under load.
        self._names = [faker.name() for _ in range(NAME_POOL)]
        channels = scenario.traffic.channels
        self._channel_ids = [c.channel_id for c in channels]
        self._channel_cum = list(itertools.accumulate(c.share for c in channels))
        self._serials: dict[str, itertools.count[int]] = {}
        self._phones: dict[str, _Permutation] = {}
        self._cgnat = _Permutation(CGNAT.num_addresses, self._numbers("cgnat"), lane, lanes)
        self._operator_nets = _Permutation(OPERATOR_NET.num_addresses // 256, self._numbers("operators"), lane, lanes)
        self._blacklist = frozenset(scenario.antifraud.blacklist)
        self._prefixes = [p for p in MOBILE_PREFIXES if not scenario.antifraud.is_virtual(p)]
        self.operator: FraudOperator | None = None
        self.operators_made = 0

    def _numbers(self, kind: str) -> random.Random:
        """The generator a range of numbers (phones under a prefix, addresses) is scrambled with:
        one lane draws it from its own; lanes share one per range, so they can split it."""
        return self.rng if self.lanes == 1 else random.Random(f"{self.seed}/{kind}")

    def persona_for(self, rng: random.Random | None = None) -> str:
        """A persona drawn by the mix, with the given generator (or the factory's own)."""
        return persona_for(self.scenario.personas.mix, rng or self.rng)

    def new(self, persona: str, arrival_t: float = 0.0, number: str | None = None,
            channel: str | None = None, listed: str | None = None) -> Identity:
        """A new participant of this persona; fraud accounts come from the current operator,
        on a number of the kind drawn by the scenario's shares, or of the given `number` kind
        ("virtual", "blacklisted" or "clean"); `listed` picks the virtual segment or the
        blacklisted number itself."""
        if persona == "fraud_script":
            return self._fraud_account(arrival_t, number, channel, listed)
        return self._person(persona, arrival_t, channel)

    def invitee(self, link: str, invite_code: str | None, arrival_t: float,
                channel: str | None = None) -> Identity:
        """A friend arriving through a sharer's link, carrying the sharer's invite code."""
        return self._person("invitee", arrival_t, channel=channel, link=link,
                            invite_code=invite_code)

    def _person(self, persona: str, arrival_t: float, channel: str | None = None,
                link: str | None = None, invite_code: str | None = None) -> Identity:
        return Identity(
            persona=persona, user_key=self._user_key(persona), phone=self._phone(),
            name=self.rng.choice(self._names), channel=channel or self._channel(),
            ip=str(CGNAT.network_address + self._cgnat.take()), device_id=self._device_id(),
            arrival_t=float(arrival_t), invite_code=invite_code, link=link,
        )

    def _fraud_account(self, arrival_t: float, number: str | None = None,
                       channel: str | None = None, listed_as: str | None = None) -> Identity:
        settings = self.scenario.personas.fraud_script
        operator = self.operator
        if operator is None or operator.accounts_made >= settings.accounts_per_operator:
            operator = self.operator = self._new_operator()
        operator.accounts_made += 1
        segments = self.scenario.antifraud.virtual_segments
        virtual = bool(segments) and (self.rng.random() < settings.virtual_number_share
                                      if number is None else number == "virtual")
        phone = self._phone((listed_as or self.rng.choice(segments)) if virtual else None)
        listed = self.scenario.antifraud.blacklist
        blacklisted = bool(listed) and not virtual and (self.rng.random() < settings.blacklisted_share
                                                        if number is None else number == "blacklisted")
        if blacklisted:
            phone = listed_as or self.rng.choice(listed)  # an account known from earlier campaigns
        # the rules gate reads these marks: such a number must never get in
        mark = "+virtual" if virtual else ("+blacklisted" if blacklisted else "")
        return Identity(
            persona="fraud_script", user_key=self._user_key("fraud_script") + mark, phone=phone,
            name=self.rng.choice(self._names), channel=channel or self._channel(), ip=self.rng.choice(operator.ips),
            device_id=self.rng.choice(operator.devices), arrival_t=float(arrival_t),
            operator=operator,
        )

    def _new_operator(self) -> FraudOperator:
        """A new operator: `ips_per_operator` addresses in one /24 (at most 254), a few devices."""
        settings = self.scenario.personas.fraud_script
        net = OPERATOR_NET.network_address + 256 * self._operator_nets.take()
        hosts = self.rng.sample(range(1, HOSTS_PER_24 + 1),
                                min(settings.ips_per_operator, HOSTS_PER_24))
        operator = FraudOperator(
            operator_id=f"op-{self.operators_made:05d}",
            ips=[str(net + host) for host in hosts],
            devices=[self._device_id() for _ in range(settings.devices_per_operator)],
        )
        self.operators_made += 1
        return operator

    def _user_key(self, persona: str) -> str:
        serial = next(self._serials.setdefault(persona, itertools.count()))
        return f"{self.key_prefix}{persona}-{serial:06d}"

    def _channel(self) -> str:
        index = bisect.bisect_right(self._channel_cum, self.rng.random() * self._channel_cum[-1])
        return self._channel_ids[min(index, len(self._channel_ids) - 1)]

    def _phone(self, segment: str | None = None) -> str:
        """An 11-digit number in `segment` (else under a real mobile prefix that is not a
        virtual segment), never handed out twice and never on the scenario's blacklist."""
        while True:
            prefix = segment or self.rng.choice(self._prefixes)
            digits = 11 - len(prefix)
            numbers = self._phones.get(prefix)
            if numbers is None:
                numbers = self._phones[prefix] = _Permutation(10**digits, self._numbers(prefix), self.lane,
                                                              self.lanes)
            phone = f"{prefix}{numbers.take():0{digits}d}"
            if phone in self._blacklist:
                continue
            if segment is None and self.scenario.antifraud.is_virtual(phone):
                continue
            return phone

    def _device_id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

