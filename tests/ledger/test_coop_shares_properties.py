"""Property: random runs of a community benefit society (docs/shares.md, "Co-operative rules") keep
every invariant after every step. Members subscribe, withdraw, propose and vote on holders'
decisions (dividends, interest caps, suspensions and their lifting, valid or not), the manager and
others pay interest at random rates and periods, time runs on and the node closes what falls due.
After each step: the shares ledger's invariants, credit summing to zero, vote weights equal to a
reference count written here (one vote for any member share, one per investor share), no
withdrawal falling due while its enterprise is suspended, interest never paid ahead of the log's
time; a refused intent changes nothing; an interest payment moves exactly the reference amounts.
At the end a replica's refold of the bytes reaches the same digest.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from tallystick.ledger import decisions, shares
from tallystick.ledger.digest import state_digest
from tallystick.protocol import limits
from tallystick.protocol.events import (
    DeclareDividend,
    Holders,
    OpenOffer,
    PayInterest,
    Propose,
    RegisterEnterpriseWithMemberVotes,
    ResumeWithdrawals,
    SetInterestCap,
    ShareClass,
    Subscribe,
    SuspendWithdrawals,
    Vote,
    WithdrawShares,
)

from helpers.ledger import admin_key, refold

from .test_shares import Community, bea_key, cal_key, dee_key

people = [admin_key, bea_key, cal_key, dee_key]
member_shares = ShareClass("Member shares", "user", 1, 1, 100, True, False, None, True)
investor_shares = ShareClass("Investor shares", "investor", 1, 2, 500, False, True, None, False)
# The caps and rates people choose (and a few past them), and any other.
rates = st.sampled_from([0, 100, 300, 500, 10_000]) | st.integers(0, 10_000)
reasons = st.sampled_from(["solvency", "liquidity", "winding_up", "restructuring", "other"])


class Society(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.town = Community()
        action = RegisterEnterpriseWithMemberVotes(name="Bakery", classes=(member_shares, investor_shares),
                                                   notice_ms=5_000, member_vote_classes=(0,))
        self.bakery = shares.enterprise_id(self.town.feed, self.town.accept(admin_key, action).seq)
        self.decisions: list[int] = []
        self.offers: list[int] = []
        # Holders to start from: Bea 1, Cal 40, Dee 50 member shares; Cal 3 investor shares.
        for share_class, stakes in ((0, ((bea_key, 1), (cal_key, 40), (dee_key, 50))), (1, ((cal_key, 3),))):
            price = (member_shares, investor_shares)[share_class].par_minor
            offer = self.town.accept(admin_key, OpenOffer(self.bakery, share_class, price, 100, 1, 100,
                                                          self.town.now_ms + 1000)).seq
            for signer, units in stakes:
                self.town.accept(signer, Subscribe(offer, units))
            self.town.close_offer(offer)
        # And a cap of 5 % a year to start from, so interest can be paid from the first step.
        cap = self.town.accept(bea_key, Propose("proposal", "Cap", "", self.town.now_ms + 1000,
                                                electorate=Holders(self.bakery), effect=SetInterestCap(self.bakery, 500))).seq
        for voter in (bea_key, cal_key, dee_key):
            self.town.accept(voter, Vote(cap, "agree"))
        self.run_timer(1000)
        assert self.town.state.shares.enterprises[self.bakery].interest_cap_bp == 500

    def submit(self, signer, action) -> bool:  # type: ignore[no-untyped-def]
        """Submit at the clock, which then runs on a second (so decisions and offers, open for a few
        seconds, close after a few intents as they do on a node)."""
        before = state_digest(self.town.state)
        error = self.town.submit(self.town.sign(signer, action))
        if error is not None:
            assert state_digest(self.town.state) == before, error
        self.run_timer(1_000)
        return error is None

    def run_timer(self, elapsed_ms: int) -> None:
        """The clock runs on and the node appends what falls due, as its timer does."""
        self.town.now_ms += elapsed_ms
        town, now = self.town, self.town.now_ms
        for offer in shares.due_offer_closes(town.state, now):
            town.audited(shares.offer_closing_body(town.state, offer))
        for decision in decisions.due_closures(town.state, now):
            body = decisions.closing_body(town.state, decision)
            if body is not None:
                town.audited(body)
        for withdrawal in shares.due_withdrawals(town.state, now):
            town.audited(shares.withdrawal_body(town.state, withdrawal))

    @rule(share_class=st.integers(0, 1), units=st.integers(1, 60))
    def open_offer(self, share_class: int, units: int) -> None:
        price = (member_shares, investor_shares)[share_class].par_minor
        if self.submit(admin_key, OpenOffer(self.bakery, share_class, price, units, 1, units,
                                            self.town.now_ms + 10_000)):
            self.offers.append(self.town.seq)

    @rule(signer=st.sampled_from(people), which=st.integers(0, 5), units=st.integers(1, 60))
    def subscribe(self, signer, which: int, units: int) -> None:  # type: ignore[no-untyped-def]
        if self.offers:
            self.submit(signer, Subscribe(self.offers[which % len(self.offers)], units))

    @rule(signer=st.sampled_from(people), units=st.integers(1, 30), share_class=st.integers(0, 1))
    def withdraw(self, signer, units: int, share_class: int) -> None:  # type: ignore[no-untyped-def]
        suspended = self.town.state.shares.enterprises[self.bakery].suspended_by
        accepted = self.submit(signer, WithdrawShares(self.bakery, share_class, units))
        assert not (accepted and suspended), "a withdrawal taken while suspended"

    @rule(signer=st.sampled_from(people), choice=st.integers(0, 4), rate_bp=rates,
          amount=st.integers(1, 5_000), reason=reasons, members_electorate=st.booleans(), agreed=st.booleans())
    def propose(self, signer, choice: int, rate_bp: int, amount: int, reason: str,  # type: ignore[no-untyped-def]
                members_electorate: bool, agreed: bool) -> None:
        """A proposal, valid or not; half the time every person then agrees to it at once."""
        effect = (DeclareDividend(self.bakery, amount), SetInterestCap(self.bakery, rate_bp),
                  SuspendWithdrawals(self.bakery, reason), ResumeWithdrawals(self.bakery), None)[choice]
        electorate = {} if members_electorate else {"electorate": Holders(self.bakery)}
        action = Propose("proposal", "Holders decide", "", self.town.now_ms + 6_000, effect=effect, **electorate)  # type: ignore[arg-type]
        if self.submit(signer, action):
            assert not members_electorate or effect is None, "a co-op effect without the holders' electorate"
            self.decisions.append(self.town.seq)
            decision = self.town.seq
            for voter in people if agreed else ():
                self.submit(voter, Vote(decision, "agree"))

    @rule(signer=st.sampled_from(people), which=st.integers(0, 5),
          position=st.sampled_from(["agree", "disagree", "abstain"]))
    def vote(self, signer, which: int, position: str) -> None:  # type: ignore[no-untyped-def]
        if self.decisions:
            self.submit(signer, Vote(self.decisions[which % len(self.decisions)], position))  # type: ignore[arg-type]

    @rule(signer=st.sampled_from([admin_key, admin_key, bea_key]), share_class=st.sampled_from([0, 0, 1]),
          rate_bp=rates, period_ms=st.none() | st.sampled_from([1_000, 30_000, limits.year_ms // 12, limits.year_ms])
          | st.integers(0, 40_000))
    def pay_interest(self, signer, share_class: int, rate_bp: int, period_ms: int | None) -> None:  # type: ignore[no-untyped-def]
        """Interest at a rate, for a period (None: all the time owed, as a board pays it)."""
        state = self.town.state
        enterprise = state.shares.enterprises[self.bakery]
        if period_ms is None:
            owed_ms = self.town.now_ms - enterprise.interest_from_ms[share_class] if enterprise.interest_from_ms else 1
            period_ms = max(0, min(owed_ms, limits.decision_duration_max_ms))
        par = enterprise.classes[share_class].par_minor
        expected = {holder: held.units * par * rate_bp * period_ms // (10_000 * limits.year_ms)
                    for (eid, c, holder), held in state.shares.holdings.items() if eid == self.bakery and c == share_class}
        balance = state.accounts[self.bakery].balance_minor
        if self.submit(signer, PayInterest(self.bakery, share_class, rate_bp, period_ms)):
            assert signer is admin_key and enterprise.classes[share_class].withdrawable
            assert 1 <= rate_bp <= enterprise.interest_cap_bp
            assert balance - self.town.state.accounts[self.bakery].balance_minor == sum(expected.values())
            after = self.town.state.shares.enterprises[self.bakery].interest_from_ms[share_class]
            assert after == enterprise.interest_from_ms[share_class] + period_ms <= self.town.now_ms

    @rule()
    def a_month_passes_and_the_board_pays_interest_at_the_cap(self) -> None:
        self.run_timer(limits.year_ms // 12)
        cap_bp = self.town.state.shares.enterprises[self.bakery].interest_cap_bp
        self.pay_interest(admin_key, 0, cap_bp, None)

    @rule(elapsed_ms=st.sampled_from([6_000, 11_000, limits.year_ms // 12, limits.year_ms // 4]))
    def time_passes(self, elapsed_ms: int) -> None:
        self.run_timer(elapsed_ms)

    @invariant()
    def shares_and_credit_hold(self) -> None:
        state = self.town.state
        shares.audit_invariants(state)
        assert sum(account.balance_minor for account in state.accounts.values()) == 0

    @invariant()
    def one_vote_for_any_member_share_one_per_investor_share(self) -> None:
        state = self.town.state
        reference: dict[bytes, int] = {}
        for (eid, share_class, holder), held in state.shares.holdings.items():
            if eid == self.bakery and held.units:
                reference[holder] = reference.get(holder, 0) + (1 if share_class == 0 else 0)
        for (eid, share_class, holder), held in state.shares.holdings.items():
            if eid == self.bakery and share_class == 1:
                reference[holder] += held.units
        assert shares.vote_weights(state, self.bakery) == {h: w for h, w in reference.items() if w}

    @invariant()
    def nothing_falls_due_while_suspended_and_interest_is_never_paid_ahead(self) -> None:
        state = self.town.state
        enterprise = state.shares.enterprises[self.bakery]
        if enterprise.suspended_by:
            assert shares.due_withdrawals(state, self.town.now_ms + limits.year_ms) == []
            assert enterprise.suspension_reason
        assert all(clock <= max(state.ts_ms, self.town.now_ms) for clock in enterprise.interest_from_ms)

    def teardown(self) -> None:
        state, _ = refold(self.town.genesis_bytes, self.town.events)
        assert state_digest(state) == state_digest(self.town.state)


TestSociety = Society.TestCase
TestSociety.settings = settings(max_examples=60, stateful_step_count=50, deadline=None,
                                suppress_health_check=[HealthCheck.too_slow])
