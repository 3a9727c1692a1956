"""The backend's embedded database (SQLite): users, tasks, claims, the ledger, domains, events.

Money moves only inside `transaction()` (BEGIN IMMEDIATE), with conditional updates, so the
healthy paths are atomic across worker processes too. The faulty paths in `payouts.py` use
the separate unguarded steps on purpose.

The file holds the operations token, the TOTP secret behind top-ups, the payout signing key and
every participant's phone number, so it and SQLite's side files (-wal, -shm, -journal) are the
owner's only (0600), from the moment they exist, and tightened again on every open; folders made
for it are 0700 (`make_folder`).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pyotp

from rehearse.scenarios import Scenario

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, phone TEXT UNIQUE NOT NULL, channel_id TEXT NOT NULL,
    invite_code TEXT UNIQUE NOT NULL, invited_by INTEGER, device_id TEXT, created_t REAL NOT NULL,
    invites_counted INTEGER NOT NULL DEFAULT 0, shares INTEGER NOT NULL DEFAULT 0,
    task_completions INTEGER NOT NULL DEFAULT 0, followed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, user_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blacklist (phone TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS tasks (
    user_id INTEGER NOT NULL, institution TEXT NOT NULL, task TEXT NOT NULL, t REAL NOT NULL,
    PRIMARY KEY (user_id, institution, task));
CREATE TABLE IF NOT EXISTS claims (
    user_id INTEGER NOT NULL, prize_key TEXT NOT NULL, PRIMARY KEY (user_id, prize_key));
CREATE TABLE IF NOT EXISTS payouts (
    id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, pool TEXT NOT NULL, prize_key TEXT NOT NULL,
    prize TEXT, amount_fen INTEGER NOT NULL, t REAL NOT NULL, status TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS payouts_user ON payouts (user_id, prize_key);
CREATE TABLE IF NOT EXISTS pools (
    name TEXT PRIMARY KEY, budget_fen INTEGER NOT NULL, left_fen INTEGER NOT NULL,
    paid_fen INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS prizes (name TEXT PRIMARY KEY, left INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS topups (
    id INTEGER PRIMARY KEY, pool TEXT NOT NULL, amount_fen INTEGER NOT NULL, t REAL NOT NULL,
    operator TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS used_codes (code TEXT PRIMARY KEY, t REAL NOT NULL);
CREATE TABLE IF NOT EXISTS domains (
    domain TEXT PRIMARY KEY, role TEXT NOT NULL, state TEXT NOT NULL, rank INTEGER NOT NULL,
    issued INTEGER NOT NULL DEFAULT 0, visits INTEGER NOT NULL DEFAULT 0,
    banned_t REAL, activated_t REAL);
CREATE TABLE IF NOT EXISTS links (
    code TEXT PRIMARY KEY, user_id INTEGER NOT NULL, domain TEXT NOT NULL,
    channel_id TEXT NOT NULL, t REAL NOT NULL);
CREATE TABLE IF NOT EXISTS funnel (
    channel_id TEXT NOT NULL, step TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (channel_id, step));
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, t REAL NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
"""

OWNER_FILE = 0o600
OWNER_FOLDER = 0o700
SIDE_FILES = ("-wal", "-shm", "-journal")
"""SQLite's files beside a database (WAL mode uses the first two); they hold its pages too."""
INVITE_CODE_DRAWS = 8
"""Invite codes drawn for a new user before giving up: the first is taken once in 43,000 draws
among 100,000 users, eight in a row never."""

FUNNEL_STEPS = (
    "page_view", "link_visit", "login", "new_user", "invited_user", "first_task",
    "first_envelope", "all_envelopes", "grand_draw", "share", "follow",
)


class Store:
    """One SQLite connection (per worker process) and the queries the backend needs."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path not in (":memory:", ""):
            owner_only(Path(self.path))  # before SQLite writes a byte; its side files take the file's mode
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0,
                                  check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=30000")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE .. COMMIT, rolled back on any exception."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- first start -----------------------------------------------------------------------

    def initialise(self, scenario: Scenario) -> None:
        """Seed pools, prizes and domains from the scenario, once; later starts keep the state."""
        with self.transaction() as db:
            if self.meta("scenario") is not None:
                return
            self.set_meta("scenario", scenario.name)
            # hex: never starts with "-", so `--ops-token TOKEN` always parses as a value
            self.set_meta("ops_token", secrets.token_hex(24))
            self.set_meta("otp_secret", pyotp.random_base32())
            self.set_meta("sign_key", secrets.token_hex(16))
            db.executemany(
                "INSERT INTO pools (name, budget_fen, left_fen) VALUES (?, ?, ?)",
                [(name, fen, fen) for name, fen in scenario.pool_budgets().items()],
            )
            db.executemany(
                "INSERT INTO prizes (name, left) VALUES (?, ?)",
                [(p.name, p.count) for p in _grand_prizes(scenario) if p.count is not None],
            )
            links = scenario.links
            primary, backup = (links.primary_domains, links.backup_domains) if links is not None else ([], [])
            rows = [(d, "primary", "active", i) for i, d in enumerate(primary)]
            rows += [(d, "backup", "standby", len(rows) + i) for i, d in enumerate(backup)]
            db.executemany("INSERT INTO domains (domain, role, state, rank) VALUES (?, ?, ?, ?)", rows)
            db.executemany("INSERT OR IGNORE INTO blacklist (phone) VALUES (?)",
                           [(p,) for p in scenario.antifraud.blacklist])

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # --- users and sessions ----------------------------------------------------------------

    def user_by_phone(self, phone: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM users WHERE phone = ?", (phone,)).fetchone()

    def user_by_invite_code(self, code: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM users WHERE invite_code = ?", (code,)).fetchone()

    def user(self, user_id: int) -> sqlite3.Row:
        return self.db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()

    def create_user(self, phone: str, channel_id: str, invited_by: int | None,
                    device_id: str | None, t: float) -> sqlite3.Row | None:
        """The new user, or None if the phone registered meanwhile. An invite code another user
        holds already (4 random bytes: met by chance in a campaign of 100,000) is drawn again."""
        for _ in range(INVITE_CODE_DRAWS):
            code = secrets.token_hex(4)
            cur = self.db.execute(
                "INSERT OR IGNORE INTO users (phone, channel_id, invite_code, invited_by, device_id,"
                " created_t) VALUES (?, ?, ?, ?, ?, ?)",
                (phone, channel_id, code, invited_by, device_id, t),
            )
            if cur.rowcount:
                assert cur.lastrowid is not None  # set by the INSERT that added the row
                return self.user(cur.lastrowid)
            if self.user_by_phone(phone) is not None:
                return None
        raise sqlite3.IntegrityError(f"no free invite code in {INVITE_CODE_DRAWS} draws")

    def count_invite(self, inviter_id: int) -> int:
        self.db.execute("UPDATE users SET invites_counted = invites_counted + 1 WHERE id = ?",
                        (inviter_id,))
        return self.user(inviter_id)["invites_counted"]

    def new_session(self, user_id: int) -> str:
        token = secrets.token_urlsafe(24)
        self.db.execute("INSERT INTO sessions (token, user_id) VALUES (?, ?)", (token, user_id))
        return token

    def session_user(self, token: str) -> int | None:
        row = self.db.execute("SELECT user_id FROM sessions WHERE token = ?", (token,)).fetchone()
        return row[0] if row else None

    def is_blacklisted(self, phone: str) -> bool:
        return self.db.execute("SELECT 1 FROM blacklist WHERE phone = ?", (phone,)).fetchone() is not None

    def add_to_blacklist(self, phone: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO blacklist (phone) VALUES (?)", (phone,))

    def bump_user(self, user_id: int, column: str, cap: int | None = None) -> bool:
        """Add one to a per-user counter (shares, task_completions); False at the cap."""
        assert column in ("shares", "task_completions")
        guard = f" AND {column} < {int(cap)}" if cap is not None else ""
        cur = self.db.execute(f"UPDATE users SET {column} = {column} + 1 WHERE id = ?{guard}",
                              (user_id,))
        return cur.rowcount == 1

    def set_followed(self, user_id: int) -> bool:
        """True when this call made the user a follower."""
        cur = self.db.execute("UPDATE users SET followed = 1 WHERE id = ? AND followed = 0", (user_id,))
        return cur.rowcount == 1

    # --- tasks and claims ------------------------------------------------------------------

    def complete_task(self, user_id: int, institution: str, task: str, t: float) -> bool:
        """True when the task was not done before."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO tasks (user_id, institution, task, t) VALUES (?, ?, ?, ?)",
            (user_id, institution, task, t),
        )
        return cur.rowcount == 1

    def tasks_done(self, user_id: int, institution: str) -> set[str]:
        rows = self.db.execute("SELECT task FROM tasks WHERE user_id = ? AND institution = ?",
                               (user_id, institution))
        return {r[0] for r in rows}

    def count_tasks(self, user_id: int) -> int:
        return self.db.execute("SELECT count(*) FROM tasks WHERE user_id = ?", (user_id,)).fetchone()[0]

    def claim(self, user_id: int, prize_key: str) -> bool:
        """Record that the user has taken this prize; False if already taken."""
        cur = self.db.execute("INSERT OR IGNORE INTO claims (user_id, prize_key) VALUES (?, ?)",
                              (user_id, prize_key))
        return cur.rowcount == 1

    def unclaim(self, user_id: int, prize_key: str) -> None:
        self.db.execute("DELETE FROM claims WHERE user_id = ? AND prize_key = ?", (user_id, prize_key))

    def has_claim(self, user_id: int, prize_key: str) -> bool:
        return self.db.execute("SELECT 1 FROM claims WHERE user_id = ? AND prize_key = ?",
                               (user_id, prize_key)).fetchone() is not None

    def claims_like(self, user_id: int, prefix: str) -> int:
        return self.db.execute("SELECT count(*) FROM claims WHERE user_id = ? AND prize_key LIKE ?",
                               (user_id, prefix + "%")).fetchone()[0]

    # --- the ledger ------------------------------------------------------------------------

    def debit(self, pool: str, amount_fen: int) -> bool:
        """Take amount from the pool only if it is there (atomic in one statement)."""
        cur = self.db.execute(
            "UPDATE pools SET left_fen = left_fen - ?, paid_fen = paid_fen + ?"
            " WHERE name = ? AND left_fen >= ?",
            (amount_fen, amount_fen, pool, amount_fen),
        )
        return cur.rowcount == 1

    def debit_unchecked(self, pool: str, amount_fen: int) -> None:
        """Take amount from the pool whatever is left (used only by the overspend fault)."""
        self.db.execute(
            "UPDATE pools SET left_fen = left_fen - ?, paid_fen = paid_fen + ? WHERE name = ?",
            (amount_fen, amount_fen, pool),
        )

    def pool_left(self, pool: str) -> int:
        return self.db.execute("SELECT left_fen FROM pools WHERE name = ?", (pool,)).fetchone()[0]

    def take_prize(self, name: str) -> bool:
        """Take one of a limited grand prize; False when none are left."""
        cur = self.db.execute("UPDATE prizes SET left = left - 1 WHERE name = ? AND left > 0", (name,))
        return cur.rowcount == 1

    def has_prize_limit(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM prizes WHERE name = ?", (name,)).fetchone() is not None

    def record_payout(self, user_id: int, pool: str, prize_key: str, prize: str | None,
                      amount_fen: int, t: float, status: str = "paid") -> int:
        cur = self.db.execute(
            "INSERT INTO payouts (user_id, pool, prize_key, prize, amount_fen, t, status)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (user_id, pool, prize_key, prize, amount_fen, t, status),
        )
        assert cur.lastrowid is not None  # set by the INSERT that added the row
        return cur.lastrowid

    def mark_paid(self, payout_id: int) -> None:
        self.db.execute("UPDATE payouts SET status = 'paid' WHERE id = ?", (payout_id,))

    def paid_total(self) -> int:
        return self.db.execute("SELECT coalesce(sum(paid_fen), 0) FROM pools").fetchone()[0]

    def topup(self, pool: str, amount_fen: int, operator: str, t: float) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE pools SET budget_fen = budget_fen + ?, left_fen = left_fen + ? WHERE name = ?",
                (amount_fen, amount_fen, pool),
            )
            if cur.rowcount != 1:
                raise KeyError(pool)
            db.execute("INSERT INTO topups (pool, amount_fen, t, operator) VALUES (?, ?, ?, ?)",
                       (pool, amount_fen, t, operator))
            return self.pool_left(pool)

    def limit_pool(self, pool: str, left_fen: int) -> int:
        """Cap a pool's money left (its budget shrinks by the same amount); the money left."""
        with self.transaction() as db:
            row = db.execute("SELECT left_fen FROM pools WHERE name = ?", (pool,)).fetchone()
            if row is None:
                raise KeyError(pool)
            cut = max(0, row[0] - left_fen)
            db.execute("UPDATE pools SET budget_fen = budget_fen - ?, left_fen = left_fen - ? WHERE name = ?",
                       (cut, cut, pool))
            return self.pool_left(pool)

    def use_code(self, code: str, t: float) -> bool:
        """Mark a one-time code used; False if it was used before."""
        cur = self.db.execute("INSERT OR IGNORE INTO used_codes (code, t) VALUES (?, ?)", (code, t))
        return cur.rowcount == 1

    def ledger(self) -> dict:
        pools = {
            r["name"]: {"budget_fen": r["budget_fen"], "paid_fen": r["paid_fen"], "left_fen": r["left_fen"]}
            for r in self.db.execute("SELECT * FROM pools ORDER BY rowid")
        }
        totals = {k: sum(p[k] for p in pools.values()) for k in ("budget_fen", "paid_fen", "left_fen")}
        payouts, paid_rows = self.db.execute(
            "SELECT count(*), coalesce(sum(amount_fen), 0) FROM payouts").fetchone()
        doubled = self.db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM payouts GROUP BY user_id, prize_key HAVING count(*) > 1)"
        ).fetchone()[0]
        topups = [dict(r) for r in self.db.execute("SELECT pool, amount_fen, t, operator FROM topups ORDER BY id")]
        return {"total": totals, "pools": pools, "payouts": payouts, "payouts_fen": paid_rows,
                "paid_twice": doubled, "topups": topups}

    # --- domains and links -----------------------------------------------------------------

    def domains(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM domains ORDER BY rank").fetchall()

    def issue_link(self, code: str, user_id: int, domain: str, channel_id: str, t: float) -> None:
        self.db.execute("INSERT INTO links (code, user_id, domain, channel_id, t) VALUES (?, ?, ?, ?, ?)",
                        (code, user_id, domain, channel_id, t))
        self.db.execute("UPDATE domains SET issued = issued + 1 WHERE domain = ?", (domain,))

    def link(self, code: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM links WHERE code = ?", (code,)).fetchone()

    def count_visit(self, domain: str) -> None:
        self.db.execute("UPDATE domains SET visits = visits + 1 WHERE domain = ?", (domain,))

    def ban_domain(self, domain: str, t: float, failover: bool) -> dict:
        """Mark a domain banned; with failover, move the next standby backup into the pool."""
        with self.transaction() as db:
            row = db.execute("SELECT state FROM domains WHERE domain = ?", (domain,)).fetchone()
            if row is None:
                raise KeyError(domain)
            if row["state"] == "banned":
                return {"domain": domain, "already_banned": True, "replacement": None}
            db.execute("UPDATE domains SET state = 'banned', banned_t = ? WHERE domain = ?", (t, domain))
            replacement = None
            if failover:
                spare = db.execute(
                    "SELECT domain FROM domains WHERE state = 'standby' ORDER BY rank LIMIT 1").fetchone()
                if spare is not None:
                    replacement = spare[0]
                    db.execute("UPDATE domains SET state = 'active', activated_t = ? WHERE domain = ?",
                               (t, replacement))
            return {"domain": domain, "already_banned": False, "replacement": replacement}

    # --- funnel and events -----------------------------------------------------------------

    def count_step(self, channel_id: str, step: str) -> None:
        self.db.execute(
            "INSERT INTO funnel (channel_id, step, count) VALUES (?, ?, 1)"
            " ON CONFLICT (channel_id, step) DO UPDATE SET count = count + 1",
            (channel_id, step),
        )

    def funnel(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.db.execute("SELECT channel_id, step, count FROM funnel"):
            out.setdefault(r[0], {s: 0 for s in FUNNEL_STEPS})[r[1]] = r[2]
        return out

    def log_event(self, t: float, kind: str, detail: str) -> None:
        self.db.execute("INSERT INTO events (t, kind, detail) VALUES (?, ?, ?)", (t, kind, detail))

    def events(self, since_id: int = 0) -> list[dict]:
        rows = self.db.execute("SELECT * FROM events WHERE id > ? ORDER BY id", (since_id,))
        return [dict(r) for r in rows]


def owner_only(path: Path) -> None:
    """Make the database file the owner's only (0600), creating it empty if absent (SQLite takes an
    empty file as a new database), and tighten the side files an earlier open left. The file is
    created with that mode, not chmod-ed after: no moment where another user may open it. (Not a
    umask: that is the whole process's, and the backend runs in threads beside other work.)"""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), OWNER_FILE))
    for name in (str(path), *(str(path) + suffix for suffix in SIDE_FILES)):
        try:
            os.chmod(name, OWNER_FILE)
        except FileNotFoundError:
            pass


def make_folder(folder: Path, ours: bool = False) -> None:
    """Create the folder and its missing parents, each the owner's only (0700). A folder that
    exists is left as it is (a --db under /tmp or a home folder is not ours to change), unless it
    is `ours`, the backend's own default folder (.rehearse), which is tightened too."""
    missing = [f for f in (folder, *folder.parents) if not f.exists()]
    for made in reversed(missing):
        made.mkdir(mode=OWNER_FOLDER, exist_ok=True)
        os.chmod(made, OWNER_FOLDER)  # mkdir's mode passes through the umask
    if ours and not missing:
        os.chmod(folder, OWNER_FOLDER)


def _grand_prizes(scenario: Scenario) -> list:
    """The grand round's prizes (none without a grand round)."""
    grand_round = scenario.campaign.grand_round
    return list(grand_round.prizes) if grand_round is not None else []
