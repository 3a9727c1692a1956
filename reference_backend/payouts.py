"""Paying out: envelopes, the invite reward and the grand draw, all drawn from budget pools.

The healthy path claims the prize, debits the pool and records the payout in one transaction
before the (simulated) call to the payment provider, so a payout is never doubled and a pool
never goes below zero. The `overspend` and `double-pay` faults split those steps around the
payment call, the way the classic launch defects do.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

import anyio
import pyotp

from rehearse.scenarios.fund_loss import LEVEL_NAMES, OK, STOP, WARNING, Reading
from rehearse.reference_backend.service import CampaignService, Refused

Choice = Callable[[], tuple[str | None, int]]  # -> (prize name, amount in fen)


class PayoutDesk:
    def __init__(self, service: CampaignService) -> None:
        self.service = service
        self.store = service.store
        self._slow = anyio.CapacityLimiter(service.settings.slow_open_slots)

    # --- the three things that pay ---------------------------------------------------------

    async def open_envelope(self, user_id: int, institution_id: str) -> dict:
        s = self.service
        s.require_live()
        institution = s._institution(institution_id)
        needed = {t.id for t in institution.tasks}
        missing = sorted(needed - self.store.tasks_done(user_id, institution_id))
        if missing:
            raise Refused(423, "envelope_locked", f"complete {', '.join(missing)} first "
                          f"to open {institution_id}'s envelope", missing=missing)
        if "slow-open" in s.faults:
            await anyio.to_thread.run_sync(time.sleep, s.settings.slow_open_s, limiter=self._slow)
        result = await self._pay(user_id, institution_id, f"env:{institution_id}",
                                 lambda: (None, institution.envelope.sample(s.rng)))
        opened = self.store.claims_like(user_id, "env:")
        channel = self.store.user(user_id)["channel_id"]
        if opened == 1:
            self.store.count_step(channel, "first_envelope")
        if opened == len(s.scenario.campaign.institutions):
            self.store.count_step(channel, "all_envelopes")
        return {"institution": institution_id, **result, "envelopes_opened": opened}

    async def open_invite_envelope(self, user_id: int) -> dict:
        s = self.service
        s.require_offered("open_invite_envelope")
        s.require_live()
        invite = s.scenario.campaign.invite
        assert invite is not None  # require_offered
        user = self.store.user(user_id)
        earned = s.invite_rewards_earned(user["invites_counted"])
        taken = self.store.claims_like(user_id, "invite:")
        if taken >= earned:
            need = invite.friends_required * (taken + 1) - user["invites_counted"]
            if taken >= invite.max_rewards_per_user:
                raise Refused(409, "already_claimed", "the invite reward has been claimed")
            raise Refused(423, "invite_locked", f"invite {need} more new friend(s) to earn this envelope",
                          invites_counted=user["invites_counted"])
        return await self._pay(user_id, "invite", f"invite:{taken + 1}",
                               lambda: (None, invite.reward.sample(s.rng)))

    async def grand_draw(self, user_id: int) -> dict:
        s = self.service
        s.require_offered("grand_draw")
        s.require_live()
        campaign = s.scenario.campaign
        assert campaign.grand_round is not None  # require_offered
        opened = self.store.claims_like(user_id, "env:")
        if opened < len(campaign.institutions):
            raise Refused(423, "grand_locked", f"open all {len(campaign.institutions)} envelopes "
                          f"first ({opened} opened)", envelopes_opened=opened)
        if campaign.follow_required and not self.store.user(user_id)["followed"]:
            raise Refused(423, "follow_required", f"follow {campaign.follow.account} first")  # type: ignore[union-attr]
        draws = self.store.claims_like(user_id, "grand:")
        if draws >= campaign.grand_round.draws_per_user:
            raise Refused(409, "already_claimed", "you have already drawn in the grand round")
        result = await self._pay(user_id, "grand", f"grand:{draws + 1}", self._draw_prize)
        self.store.count_step(self.store.user(user_id)["channel_id"], "grand_draw")
        return result

    def _draw_prize(self) -> tuple[str | None, int]:
        prizes = self.service.scenario.campaign.grand_round.prizes  # type: ignore[union-attr]
        roll, edge = self.service.rng.random(), 0.0
        for prize in prizes:
            edge += prize.probability
            if roll < edge:
                break
        if prize.count is not None and not self.store.take_prize(prize.name):
            prize = prizes[-1]  # that prize has run out: the unlimited fallback
        return prize.name, prize.amount_fen

    # --- the money path --------------------------------------------------------------------

    async def _pay(self, user_id: int, pool: str, prize_key: str, choose: Choice) -> dict:
        self.check_monitor()
        faults = self.service.faults
        if "double-pay" in faults:
            prize, amount, payout_id = await self._pay_check_after(user_id, pool, prize_key, choose)
        elif "overspend" in faults:
            prize, amount, payout_id = await self._pay_debit_after(user_id, pool, prize_key, choose)
        else:
            prize, amount, payout_id = await self._pay_atomic(user_id, pool, prize_key, choose)
        self.note_level(self.reading())
        return {"amount_fen": amount, "prize": prize, "payout_id": payout_id}

    async def _pay_atomic(self, user_id: int, pool: str, prize_key: str, choose: Choice):
        t = self.service.now()
        with self.store.transaction():
            if not self.store.claim(user_id, prize_key):
                raise Refused(409, "already_claimed", "this prize has already been paid to you")
            prize, amount = choose()
            if not self.store.debit(pool, amount):
                raise _exhausted(pool)
            payout_id = self.store.record_payout(user_id, pool, prize_key, prize, amount, t, "pending")
        await self._transfer()
        self.store.mark_paid(payout_id)
        return prize, amount, payout_id

    async def _pay_debit_after(self, user_id: int, pool: str, prize_key: str, choose: Choice):
        """The overspend fault: the balance is read, then debited after the payment call."""
        if not self.store.claim(user_id, prize_key):
            raise Refused(409, "already_claimed", "this prize has already been paid to you")
        prize, amount = choose()
        if self.store.pool_left(pool) < amount:
            self.store.unclaim(user_id, prize_key)
            raise _exhausted(pool)
        await self._transfer()
        with self.store.transaction():
            self.store.debit_unchecked(pool, amount)
            payout_id = self.store.record_payout(user_id, pool, prize_key, prize, amount, self.service.now())
        return prize, amount, payout_id

    async def _pay_check_after(self, user_id: int, pool: str, prize_key: str, choose: Choice):
        """The double-pay fault: 'already paid?' is read before, and written after, the payment."""
        if self.store.has_claim(user_id, prize_key):
            raise Refused(409, "already_claimed", "this prize has already been paid to you")
        prize, amount = choose()
        with self.store.transaction():
            if not self.store.debit(pool, amount):
                raise _exhausted(pool)
        await self._transfer()
        with self.store.transaction():
            self.store.claim(user_id, prize_key)
            payout_id = self.store.record_payout(user_id, pool, prize_key, prize, amount, self.service.now())
        return prize, amount, payout_id

    async def _transfer(self) -> None:
        """The call to the payment provider (simulated latency)."""
        await asyncio.sleep(self.service.settings.payment_latency_s)

    # --- the fund-loss monitor -------------------------------------------------------------

    def reading(self) -> Reading:
        ack_paid = int(self.store.meta("ack_paid_fen") or 0)
        ack_plan = float(self.store.meta("ack_plan_fen") or 0)
        if self.service.monitor is None:  # a campaign without a fund-loss alarm: never ahead of a plan
            return Reading(OK, 0.0, self.store.paid_total(), 0.0)
        return self.service.monitor.read(self.service.now(), self.store.paid_total(), ack_paid, ack_plan)

    def paused(self) -> bool:
        return self.store.meta("payouts_paused") == "1"

    def check_monitor(self) -> None:
        """Refuse the payout while paused, or (at the warning level) most of the time."""
        monitor = self.service.monitor
        if monitor is None:
            return
        if self.paused():
            raise _paused()
        reading = self.reading()
        self.note_level(reading)
        if reading.level == STOP:
            raise _paused()
        if reading.level == WARNING:
            if self.service.rng.random() >= monitor.rule.throttle_pass_share:  # the scenario's budget.fund_loss
                raise Refused(429, "payout_throttled", "payouts are being throttled; try again later")

    def note_level(self, reading: Reading) -> None:
        """Log level changes as events; reaching stop pauses payouts."""
        previous = int(self.store.meta("alarm_level") or OK)
        if reading.level == previous or (self.paused() and reading.level < STOP):
            return
        t = self.service.now()
        with self.store.transaction():
            self.store.set_meta("alarm_level", str(reading.level))
            detail = f"fund-loss ratio {reading.ratio:.2f} ({LEVEL_NAMES[reading.level]})"
            if reading.level == WARNING:
                self.store.log_event(t, "alarm", detail)
                self.store.log_event(t, "throttle", detail)
            elif reading.level == STOP:
                self.store.set_meta("payouts_paused", "1")
                self.store.log_event(t, "alarm", detail)
                self.store.log_event(t, "pause", detail)
            else:
                self.store.log_event(t, "alarm_cleared", detail)

    def resume(self, operator: str) -> dict:
        """An operator confirms: payouts resume and the monitor counts from here."""
        t = self.service.now()
        with self.store.transaction():
            self.store.set_meta("payouts_paused", "0")
            self.store.set_meta("alarm_level", str(OK))
            self.store.set_meta("ack_paid_fen", str(self.store.paid_total()))
            plan = self.service.monitor.plan_fen(t) if self.service.monitor is not None else 0.0
            self.store.set_meta("ack_plan_fen", str(plan))
            self.store.log_event(t, "resume", f"payouts resumed by {operator}")
        return {"paused": False, "monitor": self.reading().as_dict()}

    def topup(self, pool: str, amount_fen: object, code: object, operator: str) -> dict:
        """Add money to a pool; needs a fresh one-time code from the operator's authenticator."""
        if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
            raise Refused(400, "bad_amount", "amount_fen must be a positive whole number of fen")
        secret = self.store.meta("otp_secret")  # None only in a store never initialised: no code is right
        if secret is None or not isinstance(code, str) or not pyotp.TOTP(secret).verify(code, valid_window=1):
            raise Refused(401, "bad_second_factor", "a top-up needs the current one-time code "
                          "from the operator's authenticator (field: otp)")
        t = self.service.now()
        if not self.store.use_code(code, t):
            raise Refused(401, "code_reused", "this one-time code has been used; wait for the next one")
        try:
            left = self.store.topup(pool, amount_fen, operator, t)
        except KeyError:
            raise Refused(404, "unknown_pool", f"no budget pool {pool!r}") from None
        self.store.log_event(t, "topup", f"{pool} +{amount_fen} fen by {operator}")
        return {"pool": pool, "amount_fen": amount_fen, "left_fen": left}


def _paused() -> Refused:
    return Refused(423, "payouts_paused", "payouts are paused by the fund-loss monitor until an "
                   "operator confirms; your payout is delayed")


def _exhausted(pool: str) -> Refused:
    return Refused(409, "budget_exhausted", f"the {pool} budget has run out; your payout is "
                   "delayed until it is topped up")
