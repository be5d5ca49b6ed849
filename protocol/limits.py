"""Every bound in Tallystick, in one place.

How this works: each queue, batch, page, body, string and list has a named maximum here, checked at
the boundary where data enters (decoding, HTTP, replication). The unit is the last word of each name.
A peer that sends a 2 GB body or a million-element list meets one of these before it costs us memory.
"""

# The protocol version this code writes and accepts. A change of any byte of an existing golden
# fixture in tests/vectors/ is a protocol change and bumps this.
protocol_version = 1

# One signed event. The largest body is an intent carrying a memo; 8 KiB leaves room for every
# body type with its strings at their maxima, and keeps a batch of events small.
event_bytes_max = 8 * 1024
# One signed intent, carried verbatim inside an event, so it must fit with the envelope around it.
intent_bytes_max = 4 * 1024

# Strings typed by people: names of communities and members, memos, unit codes.
name_chars_max = 64
memo_chars_max = 280
# Personal texts in one intent (docs/protocol.md §19): a proposal's title, text and options, and its
# effect's name or memo. They travel sealed in one box beside the intent (protocol/personal.py).
personal_fields_max = 13
# The sealed box of one event: every opening (salt, text at 4 bytes a character) with its framing,
# the 24-byte nonce and the 16-byte tag. The texts fit in an intent, so the box is no larger.
sealed_box_bytes_max = 4 * 1024
unit_code_chars_max = 8
unit_decimals_max = 8

# Decisions (proposals, polls, consent). A title and a text are typed by people; the text is
# shorter than a memo times a few, so that an intent carrying it stays under intent_bytes_max
# (4 bytes per character at worst) with a poll's options beside it.
decision_title_chars_max = 120
decision_text_chars_max = 600
# A delegation topic ("" is general): a short label, like a name.
topic_chars_max = 32
# Delegations one member holds at once (one per topic, "" included): bounds each member's share of
# the state, whatever topics a member invents.
delegations_per_member_max = 16
# Options of one poll, and option indexes in one vote.
poll_options_max = 10
# Fractions (quorum, threshold, levy rate) are integer basis points: 10,000 is the whole.
basis_points_max = 10_000
# The longest a decision may stay open (one year and a day), so a proposal cannot sit open forever.
decision_duration_max_ms = 366 * 24 * 3600 * 1000
# Decisions open at once: each is held in memory with its votes until it closes.
decisions_open_max = 1000
# Classes of decision that have floors (protocol/types.py's DecisionClass): one floor each at most
# in a `set_floors` effect.
decision_classes_max = 8

# Clocks (node/sequencer.py). A node refuses to append while its wall clock is more than
# `clock_skew_max_ms` ahead of its own last event and of the latest event it holds from its peers:
# those are the only times it has reason to believe at start. Thirty days catches a clock set a
# year (or months) ahead before it stamps events that would close every open decision and offer
# early, and still lets a node that was switched off for a few weeks start again.
clock_skew_max_ms = 30 * 24 * 3600 * 1000
# While it runs, a node also trusts the wall clock it last accepted plus the time elapsed since on
# the boot clock (which counts suspended time): no correct wall clock moves an hour ahead of that.
clock_jump_max_ms = 3600 * 1000

# Integers are signed 64-bit everywhere, so SQLite INTEGER holds every amount exactly.
int64_max = 2**63 - 1
# One transfer's amount, and any limit or ceiling, in minor units. Bounded well below int64 so that
# a balance plus any single amount can never overflow a 64-bit column.
amount_minor_max = 10**15

# A community appends a checkpoint (the hash of its derived state) every this many events.
checkpoint_interval_events_default = 1000
checkpoint_interval_events_min = 10
checkpoint_interval_events_max = 100_000

# HTTP: a request body larger than this is refused before it is read whole.
request_bytes_max = 64 * 1024
# Pages of log events and of accounts in one API answer.
page_size_max = 1000
page_size_default = 100

# Intents waiting for the sequencer. Past this the API answers 503 with Retry-After.
pending_intents_max = 10_000
# Intents the sequencer takes into one group-committed transaction: large enough that the
# per-transaction cost (a thread hop and an fsync) is spread thin, small enough that the first
# caller in a batch waits only a few milliseconds.
sequencer_batch_intents_max = 500
# Events read from the store in one query during rebuild and verify.
store_read_batch_events_max = 2000
# Seconds the API asks a client to wait when the pending queue is full.
retry_after_seconds = 1

# Peers one node is configured with: each costs one task and one connection.
peers_max = 64

# Replication. A batch of events in one pull answer or one push: 256 events of at most
# event_bytes_max each fit in replication_body_bytes_max with room for the envelope.
replication_batch_events_max = 256
replication_body_bytes_max = 4 * 1024 * 1024
# Feeds a node reports in one heads answer: the page of a heads exchange.
replication_heads_max = 10_000
# Fork proofs served or accepted in one answer.
replication_forks_max = 100
# Anti-entropy: how often each peer is asked for its heads, and the backoff cap for a dead peer.
anti_entropy_interval_ms = 2_000
peer_backoff_max_ms = 30_000
# How long a starting node waits for its peers' copy of its own feed before its first append.
fork_safety_wait_ms = 3_000
# One HTTP call to a peer.
peer_request_timeout_ms = 10_000

# Federation bodies a community decided to append and its node has not appended yet.
federation_outbox_max = 16

# ---- community shares and the local exchange (ledger/shares.py) -----------------------------------

# Share classes of one enterprise.
share_classes_max = 8
# Units in one offer, order, transfer or holding; price x units must also fit amount_minor_max.
share_units_max = 10**12
# Offers open at once in one community.
offers_open_max = 1000
# Orders resting at once in one community, and per member.
orders_open_max = 1_000_000
orders_per_member_max = 1000
# Resting orders one incoming order may fill against (what is left that still crosses is cancelled).
fills_per_order_max = 100
# Withdrawals pending at once in one community.
withdrawals_pending_max = 10_000
# The last trades of each class that the ledger keeps for people to see.
trades_recent_max = 20

# ---- federation (protocol/federation.py, federation/) -------------------------------------------

# Members a charter names: communities, or federations (a confederation's members).
federation_members_max = 64
# A federation's quorum, in basis points of its members, is always above half (rounded up): two
# quorums then share a member, whose one ballot per epoch backs at most one proposal.
federation_quorum_bp_min = 5001
# The longest a federation proposal may stay open, from its event's ts to its deadline: a year and a
# day, as for a community decision.
federation_decision_duration_max_ms = 366 * 24 * 3600 * 1000
# Valid proposals one epoch of one federation may hold in the fold: each is held with its ballots
# until its epoch ends. Past this, further proposals of that epoch are refused (lowest ids kept).
federation_open_proposals_max = 1000
# A quorum certificate: the passed decisions it chains back to the charter (each with its votes),
# the key history (genesis and key rotations) it carries per voting feed, and its encoded size.
certificate_chain_decisions_max = 1000
certificate_key_events_max = 64
certificate_bytes_max = 16 * 1024 * 1024
# How deep certificates nest: a confederation's decision voted by its member federations' decisions.
certificate_depth_max = 8

# ---- HTTP clients (node/connections.py; each can be set in config.json) ---------------------------

# A client that has not sent its whole request head this long after connecting is dropped. Real
# clients send it in one packet; nginx's own client_header_timeout is 60 s.
header_read_timeout_ms = 10_000
# A handler waits this long for a request body (at most `replication_body_bytes_max`).
body_read_timeout_ms = 30_000
# A kept-alive connection is closed this long after its last answer if no new request came whole
# (aiohttp's keepalive_timeout; its default is 75 s).
keepalive_timeout_ms = 15_000
# Open connections from one client address. Behind a reverse proxy all connections come from the
# proxy's address, so it must be above the proxy's own connection pool (docs/operator.md).
connections_per_address_max = 256
# Open connections in all; the effective bound is also kept `open_files_reserved` below the
# process's open-files limit.
connections_max = 4096

# ---- rules of the ledger (ledger/) -----------------------------------------------------------------
# Nonces above a member's floor that are remembered: the 32 highest a member used. An intent's nonce
# must be above the floor and not among these; 32 lets a member have 32 intents in flight in any
# order, in bounded memory.
nonce_window_size = 32
# How long a payment across waits for the other community's answer before its payer's node asks
# to cancel it (the other community may still accept; the payer is refunded only on a rejection).
payment_expiry_ms = 24 * 3600 * 1000
# The period a share class's withdrawal cap counts in: each 365-day period from the Unix epoch.
year_ms = 365 * 24 * 3600 * 1000
# Invitations a community holds at once: open ones, and withdrawn ones until they would have expired
# (so that their key is refused as used, not as unknown). Each is a few ids in the state and its
# digest; 1000 is far more than any admin hands out in a month, and all of them fit one page of
# `GET /api/invitations` (page_size_max).
invitations_open_max = 1000
# The longest an invitation stays open after the event that makes it: a link on a phone should not
# outlive a month; the state holds an invitation no longer than this.
invitation_expiry_max_ms = 30 * 24 * 3600 * 1000
# Current keys one account holds at once, one per device (a phone, a laptop, a tablet, a spare):
# each is an id in the state and its digest entry, and every key a member ever adds stays bound for
# good, so the bound is on the keys that may sign at once, not on the keys ever added.
member_keys_max = 8
# The combining marks one letter may carry (Vietnamese needs two, a few scripts three); more is
# "Zalgo" text that smears over its neighbours on screen.
name_marks_per_letter_max = 3
# Rounds of skeleton, NFKC and case fold until the key stops changing: a prototype may be a
# compatibility character ("%" looks like "º/₀") or a capital, which the next round maps on; the
# chains are short, and this bound is what the loop cannot pass.
name_key_rounds_max = 4

# ---- who is asking: signed requests and sessions (protocol/requests.py, node/http/auth.py) -------
# A signed request's time may be this far from the node's clock, either way; outside it the request
# is refused (`stale_request`), so a request captured on the wire stops working within minutes.
request_skew_max_ms = 5 * 60 * 1000
# The Authorization header of a signed request, at most (a key, a time and a signature fit in 200).
request_authorization_chars_max = 512
# A session (a browser's sign-in, node/sessions.py) ends after this long without a request, and in
# any case this long after it opened: a cookie left on a shared computer stops working the same
# afternoon, and a stolen one within the day.
session_idle_ms = 30 * 60 * 1000
session_max_ms = 12 * 3600 * 1000
# A sign-in challenge, and a one-time sign-in link (`tally sign-in`), is good for this long and
# once: long enough to sign it (or to open the link) by hand, short enough to be worthless later.
sign_in_challenge_ms = 2 * 60 * 1000
# Sessions one member holds at once (a phone, a laptop, a few browsers); signing in past it ends
# their oldest, so no one member's sign-ins fill the node's session file.
sessions_per_member_max = 10
# Sessions and challenges the node holds at once, in all: past either, the oldest ends. Bounds the
# session file and the in-memory list of signed-in keys whatever strangers or members do.
sessions_max = 100_000
sign_in_challenges_max = 10_000

# A Credit Commons tree (docs/creditcommons.md): a path names at most a dozen nodes of 64 characters
# (protocol/events.py's TreePath), and a graft's rate is a ratio of two numbers up to this.
tree_path_chars_max = 255
tree_rate_max = 10**9
