"""`flask seed-bulk`: realistic volume for benchmarks, up to a million posts, through COPY.

What it makes, all of it in one transaction (a failed run leaves nothing behind):
users (an admin, a moderator, writers with a Zipf-like share of the posts, some with an avatar
row), follows, tags, posts (Markdown bodies with their HTML and text, 0-5 tags, drafts and
archived ones among them), comments with threaded replies, likes of posts and comments
(heavy-tailed: a few posts have most of them) with the counts stored on the items, bookmarks,
direct and group conversations with their messages (one "hot" conversation holds half of
them), in-app notifications (one person holds half of them, and has hundreds of bookmarks),
open flags for the moderation queue, and the audit log.

How it stays fast and honest:
- COPY in batches, never an INSERT per row; the database still checks every constraint and
  computes the generated search column, because the rows go through the real tables.
- On an empty database the plain (non-unique) indexes of the loaded tables are dropped first
  and rebuilt at the end, in the same transaction: one sort per index instead of a
  million inserts into each. Unique and primary-key indexes stay, so they check every row.
- Markdown is rendered once per block of a pool (by blog.core.markdown, the real pipeline) and
  a post is a sequence of pool blocks: the body, its HTML and its text are what the editor
  would have stored.
- Deterministic: every id and every choice comes from `--seed` (ids are keyed hashes of the
  row's number, so any table can refer to a row of another without keeping a list of them).

Every person it creates has the password printed at the end (local development data only).
"""

from __future__ import annotations

import bisect
import hashlib
import io
import itertools
import random
import sys
import time
import uuid
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

PASSWORD = "Bulk-seed-2026"  # noqa: S105 - printed development data, never a real account
UNTIL = datetime(2026, 11, 30, tzinfo=UTC)
SPAN = timedelta(days=3 * 365)
BATCH = 5000
# Likes per item follow a Lomax (Pareto II) law of this shape: over 40% of the published posts
# have none, and the most liked ones (capped at half the people) a hundred times the mean.
LIKE_SHAPE = 1.5
# A reply's parent is at most this deep (path length), so replies reach depth 4: one level past
# what the page nests (blog.comments.models.SHOWN_LEVELS), shown "in reply to" their parent.
MAX_PARENT_DEPTH = 3
# The person with half of the notifications also has this many bookmarks (at most), so /saved
# has pages to turn.
HOT_BOOKMARKS = 400
# Tables this command writes, in load order (parents first). Refused when any holds a row.
TABLES = (
    "users",
    "file_metadata",
    "follows",
    "tags",
    "posts",
    "post_tags",
    "comments",
    "post_reactions",
    "comment_reactions",
    "bookmarks",
    "conversations",
    "conversation_participants",
    "messages",
    "notifications",
    "flags",
    "audit_log",
)
# Tables whose row numbers (and so ids) continue after their own count on --append.
NUMBERED = ("comments", "conversations", "messages", "notifications", "flags", "audit_log")

FIRST = [
    "ada",
    "alan",
    "anna",
    "ben",
    "carla",
    "dan",
    "eva",
    "finn",
    "grace",
    "hugo",
    "iris",
    "jonas",
    "kara",
    "leo",
    "mia",
    "noah",
    "olga",
    "paul",
    "quinn",
    "rosa",
    "sam",
    "tara",
    "uma",
    "vik",
    "wen",
    "xavi",
    "yara",
    "zoe",
]
LAST = [
    "smith",
    "jones",
    "garcia",
    "mueller",
    "rossi",
    "dubois",
    "novak",
    "kim",
    "tanaka",
    "silva",
    "costa",
    "weber",
    "moreau",
    "larsen",
    "ivanova",
    "khan",
    "patel",
    "nguyen",
    "okafor",
    "hansen",
]
# Real words with a known place in the frequency table: the benchmarks search for them.
# "garden" is in about 70% of the posts, "lantern" in about 5%, "quokka" in very few.
COMMON_WORD, MEDIUM_WORD, RARE_WORD = "garden", "lantern", "quokka"
TOPICS = [
    "python",
    "postgresql",
    "travel",
    "cooking",
    "music",
    "photography",
    "writing",
    "design",
    "history",
    "science",
    "gardening",
    "cycling",
    "books",
    "film",
    "climate",
    "coffee",
    "chess",
    "running",
    "startups",
    "security",
    "web",
    "databases",
    "linux",
    "birds",
    "maps",
    "poetry",
    "teaching",
    "health",
    "finance",
    "architecture",
]
COMMENT_WORDS = [
    "thanks",
    "great",
    "point",
    "agree",
    "disagree",
    "interesting",
    "why",
    "how",
    "exactly",
    "nice",
    "post",
    "more",
    "please",
    "helpful",
    "wrong",
    "right",
    "idea",
    "source",
    "link",
    "read",
    "again",
    "later",
]


def _esc(value: str) -> str:
    """A value for COPY's text format."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return value


def _ts(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


@dataclass
class Plan:
    """How many of each; the defaults scale with the posts (see bulk_plan)."""

    users: int
    posts: int
    comments: int
    follows: int
    conversations: int
    messages: int
    notifications: int
    flags: int
    audit: int
    tags: int
    avatars: float
    seed: int
    post_likes: float = 3.0  # mean likes per published post
    comment_likes: float = 0.8  # mean likes per visible comment
    bookmarks: int = 0
    replies: float = 0.35  # share of the comments that answer another comment
    until: datetime = UNTIL
    append: bool = False


def bulk_plan(users: int, posts: int, seed: int = 1, **overrides: Any) -> Plan:
    """The default mix for `users` and `posts`: 2 comments (35% of them replies) and 0.2
    messages and notifications a post (half of the messages in one conversation, half of the
    notifications for one person), 3 likes a published post and 0.8 a comment on average, one
    bookmark in four posts, one audit row a post, 5 follows a person."""
    values: dict[str, Any] = {
        "users": users,
        "posts": posts,
        "comments": posts * 2,
        "follows": min(users * 5, users * (users - 1) // 2),
        "conversations": max(users, 2),
        "messages": posts // 5,
        "notifications": posts // 5,
        "flags": max(posts // 2000, 100),
        "audit": posts,
        "tags": 200,
        "avatars": 0.3,
        "seed": seed,
        "bookmarks": posts // 4,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Plan(**values)


class Progress:
    """One line per table: a bar, rows, rate and ETA (redrawn in place on a terminal)."""

    def __init__(self, label: str, total: int, out: Any) -> None:
        self.label, self.total, self.out = label, max(total, 1), out
        self.done = 0
        self.started = self.shown = time.monotonic()
        self.tty = bool(getattr(out, "isatty", lambda: False)())

    def add(self, rows: int) -> None:
        self.done += rows
        now = time.monotonic()
        if now - self.shown >= (0.25 if self.tty else 5.0):
            self.shown = now
            self._draw(final=False)

    def finish(self) -> float:
        self._draw(final=True)
        return time.monotonic() - self.started

    def _draw(self, *, final: bool) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        share = min(self.done / self.total, 1.0)
        bar = "#" * int(share * 24)
        if final:
            tail = f"{elapsed:6.1f} s"
        else:
            eta = (self.total - self.done) / rate if rate else 0
            tail = f"ETA {eta:5.0f} s"
        line = (
            f"{self.label:<26} [{bar:<24}] {self.done:>10,}/{self.total:<10,} "
            f"{rate:>9,.0f} rows/s  {tail}"
        )
        if self.tty:
            self.out.write("\r" + line + ("\n" if final else ""))
        elif final or self.done:
            self.out.write(line + "\n")
        self.out.flush()


@dataclass
class PostInfo:
    id: str
    status: str
    published: float  # epoch seconds (drafts: when they were written)
    author: int
    title: str
    slug: str
    tags: list[int]


@dataclass
class Pools:
    """Markdown blocks rendered once; posts and comments are made of them (COPY-escaped)."""

    paragraphs: list[tuple[str, str, str]] = field(default_factory=list)
    specials: list[tuple[str, str, str]] = field(default_factory=list)
    comments: list[tuple[str, str]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    title_words: list[str] = field(default_factory=list)
    tag_names: list[str] = field(default_factory=list)


class BulkSeeder:
    def __init__(self, cursor: Any, plan: Plan, out: Any = sys.stderr) -> None:
        self.cur, self.plan, self.out = cursor, plan, out
        self.key = hashlib.sha256(f"blog-seed-bulk:{plan.seed}".encode()).digest()[:32]
        self.end = plan.until.timestamp()
        self.start = self.end - SPAN.total_seconds()
        self.u0 = self.p0 = 0  # numbering continues after what exists (--append)
        # ... per table for the others: their sizes need not follow the posts (--comments,
        # --audit, conversations by the people), so each continues after its own rows.
        self.n0: dict[str, int] = dict.fromkeys(NUMBERED, 0)
        self.rows = 0
        self.tag_ids: list[str] = []
        self.pools = Pools()
        self.step = SPAN.total_seconds() / max(plan.posts, 1)
        self.hot_user = 2  # the person with half the notifications and the big conversation
        self._user_id_list: list[str] = []
        # Filled by _posts, per post number: author, likes (0 unless published), and the
        # cumulative popularity (1 + likes^0.75) that comments and bookmarks are drawn by.
        self.post_authors = array("i")
        self.post_likes = array("I")
        self.popularity = array("d")
        # Filled by _comments, per comment number, for the comment likes.
        self.comment_authors = array("i")
        self.comment_at = array("d")
        self.comment_likes = array("I")

    # ------------------------------------------------------------------ ids and posts

    def _rng(self, stream: int) -> random.Random:
        """A generator per table: a table's rows do not depend on how many another made."""
        return random.Random(self.plan.seed * 7 + stream)  # noqa: S311 - test data, not secrets

    def _digest(self, kind: bytes, i: int) -> bytes:
        return hashlib.blake2b(
            i.to_bytes(8, "big"), digest_size=64, key=self.key, person=kind
        ).digest()

    @staticmethod
    def _uuid(raw: bytes) -> str:
        b = bytearray(raw[:16])
        b[6] = (b[6] & 0x0F) | 0x40
        b[8] = (b[8] & 0x3F) | 0x80
        return str(uuid.UUID(bytes=bytes(b)))

    def uid(self, kind: bytes, i: int) -> str:
        return self._uuid(self._digest(kind, i))

    def user_id(self, j: int) -> str:
        """The id of this run's j-th person."""
        return self.uid(b"user", self.u0 + j)

    def user_ids(self) -> list[str]:
        """Every person's id by number, computed once (the likes name a person per row)."""
        if len(self._user_id_list) != self.plan.users:
            self._user_id_list = [self.user_id(j) for j in range(self.plan.users)]
        return self._user_id_list

    def comment_id(self, k: int) -> str:
        return self.uid(b"comment", self.n0["comments"] + k)

    def _likes(self, u: float, mean: float, share: float) -> int:
        """How many like an item, from a uniform draw `u` in [0, 1): Lomax-distributed, a bit
        under `mean` on average (the tail is cut), at most `share` of the people and never
        all of them (the author cannot)."""
        x = (1.0 - u) ** (-1 / LIKE_SHAPE) - 1  # mean 1 / (LIKE_SHAPE - 1) = 2
        cap = max(min(int(self.plan.users * share), self.plan.users - 1), 1)
        return min(int(x * mean / 2 + 0.3), cap)

    def _has_published(self) -> bool:
        return bool(self.popularity) and self.popularity[-1] > 0

    def _popular_post(self, rng: random.Random) -> int:
        """A published post's number, drawn by popularity (liked posts draw more comments and
        bookmarks). Precondition: _has_published()."""
        cum = self.popularity
        return min(bisect.bisect_right(cum, rng.random() * cum[-1]), len(cum) - 1)

    def user_name(self, j: int) -> str:
        i = self.u0 + j
        if j == 0:
            return f"admin{i}"
        if j == 1:
            return f"moderator{i}"
        return f"{FIRST[i % len(FIRST)]}{LAST[(i // len(FIRST)) % len(LAST)]}{i}"

    def post_core(self, j: int) -> tuple[str, str, float, int]:
        """The j-th post's id, status and time (enough for a comment), and the bits left."""
        d = self._digest(b"post", self.p0 + j)
        a = int.from_bytes(d[16:], "big")
        roll, a = a % 100, a // 100
        status = "draft" if roll < 3 else "archived" if roll < 5 else "published"
        jitter, a = (a % 1000) / 1000, a // 1000
        published = self.start + (j + jitter) * self.step
        return self._uuid(d), status, published, a

    def post(self, j: int) -> PostInfo:
        """This run's j-th post, computed from its number alone (so any table can refer to it)."""
        i = self.p0 + j
        post_id, status, published, a = self.post_core(j)
        # A few people write most of it: the author's share falls off as a square.
        author, a = int(self.plan.users * ((a % 1_000_003) / 1_000_003) ** 2), a // 1_000_003
        words = self.pools.title_words
        n_words, a = 3 + a % 6, a // 6
        picked = []
        for _ in range(n_words):
            picked.append(words[a % len(words)])
            a //= len(words)
        title = " ".join(picked).capitalize()
        n_tags, a = (0, 1, 1, 2, 2, 3, 3, 4, 5)[a % 9], a // 9
        tags: list[int] = []
        n_tag_ids = len(self.tag_ids)
        for _ in range(n_tags):
            # Tags are Zipf-like too: the first ones are on many posts.
            tag = int(n_tag_ids * ((a % 4099) / 4099) ** 2.5)
            a //= 4099
            if tag not in tags:
                tags.append(tag)
        slug = f"{'-'.join(picked[:6])}-{i:x}"
        return PostInfo(post_id, status, published, author, title, slug, tags)

    # ------------------------------------------------------------------ content pools

    def _word_pool(self) -> tuple[list[str], list[float]]:
        rng = self._rng(1)
        onsets = [
            "b",
            "c",
            "d",
            "f",
            "g",
            "h",
            "k",
            "l",
            "m",
            "n",
            "p",
            "r",
            "s",
            "t",
            "v",
            "w",
            "z",
            "br",
            "cl",
            "dr",
            "fl",
            "gr",
            "pl",
            "st",
            "tr",
        ]
        vowels = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou"]
        codas = ["", "", "n", "r", "s", "l", "m", "th", "nd"]
        words: set[str] = set()
        while len(words) < 12000:
            n = rng.choice((1, 2, 2, 3))
            word = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(n))
            words.add(word + rng.choice(codas))
        vocab = sorted(words)
        rng.shuffle(vocab)
        weights = [1 / (rank + 1) ** 1.07 for rank in range(len(vocab))]
        return vocab, weights

    def _build_pools(self) -> None:  # noqa: PLR0912 - one recipe, read top to bottom
        from blog.core.markdown import render_markdown

        rng = self._rng(2)
        vocab, weights = self._word_pool()
        cum = list(itertools.accumulate(weights))
        pools = self.pools
        pools.title_words = [*TOPICS, *vocab[:2000]]

        def sentence(n: int) -> str:
            words = rng.choices(vocab, cum_weights=cum, k=n)
            if rng.random() < 0.05:
                words[rng.randrange(n)] = rng.choice(TOPICS)
            return " ".join(words).capitalize() + "."

        def block(source: str) -> tuple[str, str, str]:
            rendered = render_markdown(source)
            return (_esc(source), _esc(rendered.html), _esc(rendered.text))

        for k in range(3000):
            sentences = [sentence(rng.randint(6, 16)) for _ in range(rng.randint(3, 5))]
            # The benchmark's words at known rates: a post has 2-4 paragraphs, so a word in 35%
            # of the paragraphs is in about 73% of the posts, one in 2% in about 6%.
            roll = rng.random()
            if roll < 0.37:
                sentences[0] = f"The {COMMON_WORD} {sentences[0][0].lower()}{sentences[0][1:]}"
            elif roll < 0.39:
                sentences[-1] = f"{sentences[-1][:-1]} by the {MEDIUM_WORD}."
            text = " ".join(sentences)
            if k % 7 == 0:
                words = text.split(" ")
                at = rng.randrange(1, len(words) - 1)
                words[at] = f"**{words[at]}**"
                text = " ".join(words)
            if k == 1234:
                text = f"{text} A {RARE_WORD} was seen."
            pools.paragraphs.append(block(text))
        for k in range(300):
            kind = k % 4
            if kind == 0:
                source = "## " + sentence(rng.randint(2, 5)).rstrip(".")
            elif kind == 1:
                source = "\n".join(f"- {sentence(rng.randint(3, 8))}" for _ in range(3))
            elif kind == 2:
                source = "> " + sentence(rng.randint(8, 14))
            else:
                source = "```\n" + " ".join(rng.choices(vocab[:50], k=6)) + "\n```"
            pools.specials.append(block(source))
        for _ in range(500):
            source = " ".join(rng.choices(COMMENT_WORDS, k=rng.randint(3, 25))).capitalize()
            if rng.random() < 0.1:
                source = f"*{source}*"
            rendered = render_markdown(source)
            pools.comments.append((_esc(source), _esc(rendered.html)))
        for _ in range(500):
            pools.messages.append(" ".join(rng.choices(COMMENT_WORDS, k=rng.randint(1, 12))))
        names: list[str] = list(TOPICS)
        for word in vocab:
            if len(names) >= self.plan.tags:
                break
            if 3 <= len(word) <= 30 and word not in names:
                names.append(word)
        pools.tag_names = names[: self.plan.tags]

    # ------------------------------------------------------------------ COPY

    def copy(self, table: str, columns: Sequence[str], rows: Iterable[str], total: int) -> None:
        progress = Progress(table, total, self.out)
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        for batch in _batches(rows, BATCH):
            self.cur.copy_expert(statement, io.StringIO("\n".join(batch) + "\n"))
            progress.add(len(batch))
        progress.finish()
        self.rows += progress.done

    def run(self) -> dict[str, float]:
        """Load everything in the caller's transaction; returns seconds per table."""
        cur = self.cur
        # The app's statement timeout (30 s) guards requests; an index build over a million
        # posts takes longer, and a cancelled one rolls the whole load back.
        cur.execute("SET LOCAL statement_timeout = 0")
        cur.execute("SET LOCAL synchronous_commit = off")
        cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        if self.plan.append:
            cur.execute("SELECT count(*) FROM users")
            self.u0 = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM posts")
            self.p0 = cur.fetchone()[0]
            for table in NUMBERED:
                cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - our names
                self.n0[table] = cur.fetchone()[0]
        else:
            self._refuse_unless_empty()
        self._build_pools()
        dropped = [] if self.plan.append else self._drop_plain_indexes()
        foreign_keys = [] if self.plan.append else self._drop_foreign_keys()
        started = time.monotonic()
        steps: list[tuple[str, Callable[[], None]]] = [
            ("users", self._users),
            ("file_metadata", self._avatars),
            ("follows", self._follows),
            ("tags", self._tags),
            ("posts", self._posts),
            ("post_tags", self._post_tags),
            ("comments", self._comments),
            ("post_reactions", self._post_reactions),
            ("comment_reactions", self._comment_reactions),
            ("bookmarks", self._bookmarks),
            ("conversations", self._conversations),
            ("notifications", self._notifications),
            ("flags", self._flags),
            ("audit_log", self._audit),
        ]
        for _name, step in steps:
            step()
        rebuild = time.monotonic()
        progress = Progress("indexes, foreign keys", len(dropped) + len(foreign_keys), self.out)
        for _name, definition in dropped:
            cur.execute(definition)
            progress.add(1)
        # Each foreign key checks every row again, in one join instead of a lookup per row.
        for table, name, definition in foreign_keys:
            cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            progress.add(1)
        progress.finish()
        self._finish()
        cur.execute(f"ANALYZE {', '.join(TABLES)}")
        total = time.monotonic() - started
        return {"seconds": total, "rows": self.rows, "index_seconds": time.monotonic() - rebuild}

    def _refuse_unless_empty(self) -> None:
        for table in TABLES:
            self.cur.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")  # noqa: S608 - our names
            if self.cur.fetchone()[0]:
                raise click.ClickException(
                    f"the database is not empty (table {table} has rows): seed-bulk fills an "
                    "empty database; pass --append to add to this one"
                )

    def _drop_plain_indexes(self) -> list[tuple[str, str]]:
        """Drop the non-unique indexes of the tables we load; returns how to build them again."""
        self.cur.execute(
            """
            SELECT c.relname, pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid
            JOIN pg_class t ON t.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname = current_schema() AND t.relname = ANY(%s)
              AND NOT i.indisunique AND NOT i.indisprimary
            ORDER BY t.relname, c.relname
            """,
            (list(TABLES),),
        )
        dropped = [(name, definition) for name, definition in self.cur.fetchall()]
        for name, _definition in dropped:
            self.cur.execute(f'DROP INDEX "{name}"')
        return dropped

    def _drop_foreign_keys(self) -> list[tuple[str, str, str]]:
        """Drop the foreign keys of the tables we load; returns how to add them back (adding
        one validates every row, so nothing unchecked survives the transaction)."""
        self.cur.execute(
            """
            SELECT t.relname, c.conname, pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            JOIN pg_class t ON t.oid = c.conrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname = current_schema() AND t.relname = ANY(%s) AND c.contype = 'f'
            ORDER BY t.relname, c.conname
            """,
            (list(TABLES),),
        )
        found = [(table, name, definition) for table, name, definition in self.cur.fetchall()]
        for table, name, _definition in found:
            self.cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        return found

    # ------------------------------------------------------------------ tables

    def _password_hash(self) -> str:
        from argon2 import PasswordHasher, Type

        cfg = current_app.config
        hasher = PasswordHasher(
            time_cost=cfg["ARGON2_TIME_COST"], memory_cost=cfg["ARGON2_MEMORY_COST"], type=Type.ID
        )
        # A salt from the seed: the same seed gives the same rows, hash included.
        return hasher.hash(PASSWORD, salt=self.key[:16])

    def _users(self) -> None:
        plan, rng = self.plan, self._rng(3)
        password_hash = _esc(self._password_hash())
        span = SPAN.total_seconds()

        def rows() -> Iterator[str]:
            for j in range(plan.users):
                name = self.user_name(j)
                role = "admin" if j == 0 else "moderator" if j == 1 else "user"
                created = _ts(self.start - span / 3 + span * j / max(plan.users, 1) / 2)
                suspended = j > 2 and rng.random() < 0.005
                status = "suspended" if suspended else "active"
                reason = "Spam, reported by several readers" if suspended else "\\N"
                display = f"{FIRST[(self.u0 + j) % len(FIRST)].title()} " + (
                    f"{LAST[((self.u0 + j) // len(FIRST)) % len(LAST)].title()}"
                )
                bio = "Writes about " + ", ".join(rng.sample(TOPICS, 3)) if j % 3 == 0 else "\\N"
                yield (
                    f"{self.user_id(j)}\t{name}@example.com\t{password_hash}\t{name}\t{role}\t"
                    f"local\t{status}\t{created}\t{reason}\t{display}\t{bio}\t{created}\t{created}"
                )

        self.copy(
            "users",
            (
                "id",
                "email",
                "password_hash",
                "user_name",
                "role",
                "provider",
                "status",
                "email_verified_at",
                "suspended_reason",
                "display_name",
                "bio",
                "created_at",
                "updated_at",
            ),
            rows(),
            plan.users,
        )

    def _avatars(self) -> None:
        """Avatar rows for a share of the people, all on one stored picture (content-addressed
        storage dedups identical uploads, so this is what many uploads of one file look like)."""
        plan = self.plan
        chosen = [j for j in range(plan.users) if (j * 2654435761 % 1000) < plan.avatars * 1000]
        if not chosen:
            return
        sha, size = _store_avatar_blob()
        from blog.uploads.storage import blob_key, thumbnail_key

        key = blob_key(sha)

        def rows() -> Iterator[str]:
            for j in chosen:
                created = _ts(self.start)
                yield (
                    f"{self.uid(b'avatar', self.u0 + j)}\t{self.user_id(j)}\tavatar.png\t"
                    f"image/png\t{size}\t{key}\t{sha}\t64\t64\t{thumbnail_key(sha)}\tavatar\t"
                    f"{created}"
                )

        self.copy(
            "file_metadata",
            (
                "id",
                "uploader_id",
                "file_name",
                "mime_type",
                "size_bytes",
                "storage_key",
                "checksum_sha256",
                "width",
                "height",
                "thumbnail_key",
                "purpose",
                "created_at",
            ),
            rows(),
            len(chosen),
        )
        self.cur.execute(
            "UPDATE users u SET avatar_file_id = f.id FROM file_metadata f "
            "WHERE f.uploader_id = u.id AND f.purpose = 'avatar' AND f.storage_key = %s "
            "AND u.avatar_file_id IS NULL",
            (key,),
        )

    def _follows(self) -> None:
        plan, rng = self.plan, self._rng(4)
        if plan.users < 2:
            return
        per_user = plan.follows / plan.users

        def rows() -> Iterator[str]:
            made = 0
            for j in range(plan.users):
                want = min(int(per_user + rng.random()), plan.users - 1)
                if made + want > plan.follows:
                    want = plan.follows - made
                seen: set[int] = set()
                tries = 0
                while len(seen) < want and tries < want * 20:
                    tries += 1
                    other = int(plan.users * rng.random() ** 2)  # writers with many posts
                    if other != j:
                        seen.add(other)
                follower = self.user_id(j)
                for other in sorted(seen):
                    yield f"{follower}\t{self.user_id(other)}\t{_ts(self.start)}"
                made += len(seen)

        self.copy("follows", ("follower_id", "followed_id", "created_at"), rows(), plan.follows)

    def _tags(self) -> None:
        names = self.pools.tag_names
        from psycopg2.extras import execute_values

        execute_values(
            self.cur,
            "INSERT INTO tags (id, name, slug) VALUES %s ON CONFLICT (name) DO NOTHING",
            [(self.uid(b"tag", k), name, name) for k, name in enumerate(names)],
        )
        self.cur.execute("SELECT name, id FROM tags WHERE name = ANY(%s)", (names,))
        ids = dict(self.cur.fetchall())
        self.tag_ids = [str(ids[name]) for name in names]
        self.rows += len(names)

    def _posts(self) -> None:
        plan, rng, pools = self.plan, self._rng(5), self.pools
        paragraphs, specials = pools.paragraphs, pools.specials
        n_par, n_spec = len(paragraphs), len(specials)
        end = self.end
        self.post_authors = array("i", [0]) * plan.posts
        self.post_likes = array("I", [0]) * plan.posts
        self.popularity = array("d", [0.0]) * plan.posts
        authors, likes, popularity = self.post_authors, self.post_likes, self.popularity

        def rows() -> Iterator[str]:
            total = 0.0
            for j in range(plan.posts):
                info = self.post(j)
                authors[j] = info.author
                if info.status == "published":
                    # Its own draw (not the post's stream): the likes come from the post's number.
                    u = int.from_bytes(self._digest(b"likes", self.p0 + j)[:8], "big") / 2**64
                    likes[j] = self._likes(u, plan.post_likes, 0.5)
                    total += 1 + likes[j] ** 0.75
                popularity[j] = total
                blocks = [paragraphs[rng.randrange(n_par)] for _ in range(rng.randint(2, 4))]
                if rng.random() < 0.4:
                    # A heading, list, quote or code block, never two side by side (two lists
                    # in a row would merge into one and no longer render block by block).
                    blocks.insert(rng.randrange(len(blocks)), specials[rng.randrange(n_spec)])
                content = "\\n\\n".join(b[0] for b in blocks)
                html = "\\n".join(b[1].removesuffix("\\n") for b in blocks) + "\\n"
                text = "\\n".join(b[2] for b in blocks)
                created = info.published - 3600 * rng.random() * 48
                if info.status == "draft":
                    published = archived = "\\N"
                    updated = _ts(created)
                else:
                    published = _ts(info.published)
                    updated = published
                    archived = "\\N"
                    if info.status == "archived":
                        archived = _ts(min(info.published + 86400 * 30, end))
                views = int(rng.expovariate(1 / 40))
                yield (
                    f"{info.id}\t{self.user_id(info.author)}\t{info.title}\t{info.slug}\t"
                    f"{content}\t{html}\t{text}\t{info.status}\t{published}\t{archived}\t"
                    f"{views}\t{_ts(created)}\t{updated}\t{likes[j]}"
                )

        self.copy(
            "posts",
            (
                "id",
                "author_id",
                "title",
                "slug",
                "content",
                "content_html",
                "content_text",
                "status",
                "published_at",
                "archived_at",
                "view_count",
                "created_at",
                "updated_at",
                "like_count",
            ),
            rows(),
            plan.posts,
        )

    def _post_tags(self) -> None:
        plan = self.plan

        def rows() -> Iterator[str]:
            for j in range(plan.posts):
                info = self.post(j)
                for tag in info.tags:
                    yield f"{info.id}\t{self.tag_ids[tag]}"

        # About 2.2 tags a post on average (0-5).
        self.copy("post_tags", ("post_id", "tag_id"), rows(), int(plan.posts * 2.2))

    def _published_post(self, rng: random.Random, recent: bool = False) -> PostInfo | None:
        j = self._published_number(rng, recent)
        return None if j is None else self.post(j)

    def _published_number(self, rng: random.Random, recent: bool = False) -> int | None:
        for _ in range(20):
            u = rng.random()
            j = min(int(self.plan.posts * (1 - u * u if recent else u)), self.plan.posts - 1)
            if self.post_core(j)[1] == "published":
                return j
        return None

    def _comments(self) -> None:  # noqa: PLR0915 - one thread model, read top to bottom
        """Comments drawn to published posts by popularity. A share of them (plan.replies)
        answer an earlier visible comment of the same post, often the newest, so chains form;
        a reply is stored as blog.comments.services.add_comment stores one: parent_id, root_id
        the parent's root (or the parent itself), path the parent's path and then the parent,
        created after the parent."""
        plan, rng, pools = self.plan, self._rng(6), self.pools
        if not self._has_published():
            return
        n, users, end, user_ids = plan.comments, plan.users, self.end, self.user_ids()
        authors = self.comment_authors = array("i", [0]) * n
        at_of = self.comment_at = array("d", [0.0]) * n
        likes = self.comment_likes = array("I", [0]) * n
        parent_of = array("i", [-1]) * n
        depth_of = array("b", [0]) * n
        visible = array("b", [0]) * n
        # Each post's comments as a chain, newest first: newest[post], then previous[comment].
        newest = array("i", [-1]) * plan.posts
        previous = array("i", [-1]) * n
        made_replies = 0

        def parent_for(j: int) -> int:
            """A recent comment of post j that takes a reply (shown, not too deep, not made
            in the last minute of the data), or -1."""
            found = []
            k = newest[j]
            for _ in range(16):
                if k < 0:
                    break
                if visible[k] and depth_of[k] <= MAX_PARENT_DEPTH and at_of[k] < end - 60:
                    found.append(k)
                k = previous[k]
            if not found:
                return -1
            return found[0] if rng.random() < 0.5 else rng.choice(found)

        def rows() -> Iterator[str]:
            nonlocal made_replies
            for k in range(n):
                j = self._popular_post(rng)
                post_id, _status, published, _bits = self.post_core(j)
                parent = -1
                # Steered towards the planned share: likelier while below it.
                below = made_replies < plan.replies * (k + 1)
                if plan.replies > 0 and newest[j] >= 0 and rng.random() < (0.8 if below else 0.1):
                    parent = parent_for(j)
                author = rng.randrange(users)
                if parent >= 0:
                    if author == authors[parent]:  # answering yourself happens, but rarely
                        author = rng.randrange(users)
                    base = at_of[parent]
                    at = base + 1 + min(rng.expovariate(1 / (6 * 3600)), (end - base - 1) / 2)
                    chain = []
                    ancestor = parent
                    while ancestor >= 0:
                        chain.append(ancestor)
                        ancestor = parent_of[ancestor]
                    chain.reverse()
                    ids = [self.comment_id(c) for c in chain]
                    thread = f"{ids[-1]}\t{ids[0]}\t{{{','.join(ids)}}}"
                    parent_of[k], depth_of[k] = parent, len(chain)
                    made_replies += 1
                else:
                    at = min(published + rng.expovariate(1 / 86400), end)
                    thread = "\\N\t\\N\t{}"
                stamp = _ts(at)
                state = rng.random()
                deleted = stamp if state < 0.01 else "\\N"
                removed, by, reason = ("\\N", "\\N", "\\N")
                if 0.01 <= state < 0.015:
                    removed, by, reason = stamp, user_ids[1], "Off topic"
                visible[k] = state >= 0.015
                n_likes = self._likes(rng.random(), plan.comment_likes, 0.1) if visible[k] else 0
                authors[k], at_of[k], likes[k] = author, at, n_likes
                previous[k], newest[j] = newest[j], k
                source, html = pools.comments[rng.randrange(len(pools.comments))]
                yield (
                    f"{self.comment_id(k)}\t{post_id}\t{user_ids[author]}\t{source}\t"
                    f"{html}\t{stamp}\t{deleted}\t{removed}\t{by}\t{reason}\t{thread}\t{n_likes}"
                )

        self.copy(
            "comments",
            (
                "id",
                "post_id",
                "author_id",
                "content",
                "content_html",
                "created_at",
                "deleted_at",
                "removed_at",
                "removed_by_id",
                "removed_reason",
                "parent_id",
                "root_id",
                "path",
                "like_count",
            ),
            rows(),
            n,
        )

    def _likers(self, rng: random.Random, count: int, author: int) -> list[int]:
        """`count` different people, none of them `author` (blog.reactions refuses a like of
        your own post or comment)."""
        picked = rng.sample(range(self.plan.users), count + 1)
        return [p for p in picked if p != author][:count]

    def _post_reactions(self) -> None:
        """Exactly the likes _posts counted on each published post, after it was published."""
        rng, end, users = self._rng(11), self.end, self.user_ids()
        likes, authors = self.post_likes, self.post_authors

        def rows() -> Iterator[str]:
            for j, count in enumerate(likes):
                if not count:
                    continue
                post_id, _status, published, _bits = self.post_core(j)
                for person in self._likers(rng, count, authors[j]):
                    at = min(published + rng.expovariate(1 / (2 * 86400)), end)
                    yield f"{users[person]}\t{post_id}\tlike\t{_ts(at)}"

        self.copy(
            "post_reactions", ("user_id", "post_id", "kind", "created_at"), rows(), sum(likes)
        )

    def _comment_reactions(self) -> None:
        """Exactly the likes _comments counted on each visible comment, after it was written."""
        rng, end, users = self._rng(12), self.end, self.user_ids()
        likes, authors, at_of = self.comment_likes, self.comment_authors, self.comment_at

        def rows() -> Iterator[str]:
            for k, count in enumerate(likes):
                if not count:
                    continue
                comment_id, written = self.comment_id(k), at_of[k]
                for person in self._likers(rng, count, authors[k]):
                    at = min(written + rng.expovariate(1 / 86400), end)
                    yield f"{users[person]}\t{comment_id}\tlike\t{_ts(at)}"

        self.copy(
            "comment_reactions",
            ("user_id", "comment_id", "kind", "created_at"),
            rows(),
            sum(likes),
        )

    def _bookmarks(self) -> None:
        """Saved published posts, drawn by popularity: HOT_BOOKMARKS for the person with half
        the notifications (benchmarks/scale.py signs them in for /saved), the rest spread
        over everyone."""
        plan, rng, end, users = self.plan, self._rng(13), self.end, self.user_ids()
        if not plan.bookmarks or not self._has_published():
            return
        hot = min(HOT_BOOKMARKS, plan.bookmarks // 2)
        per_person = (plan.bookmarks - hot) / max(plan.users - 1, 1)

        def rows() -> Iterator[str]:
            for person in range(plan.users):
                if person == self.hot_user:
                    want = hot
                else:
                    want = round(rng.expovariate(1 / per_person)) if per_person > 0 else 0
                chosen: set[int] = set()
                for _ in range(want * 4):  # bounded: there may be fewer posts than wanted
                    if len(chosen) >= want:
                        break
                    chosen.add(self._popular_post(rng))
                for j in sorted(chosen):
                    post_id, _status, published, _bits = self.post_core(j)
                    at = min(published + rng.expovariate(1 / (3 * 86400)), end)
                    yield f"{users[person]}\t{post_id}\t{_ts(at)}"

        self.copy("bookmarks", ("user_id", "post_id", "created_at"), rows(), plan.bookmarks)

    def _conversations(self) -> None:  # noqa: PLR0915 - three tables that share one plan
        """Direct pairs and some groups; then participants, then messages (half of them in the
        hot person's conversation with the next person)."""
        plan, rng = self.plan, self._rng(7)
        if plan.users < 4:
            return
        members: list[list[int]] = []
        titles: list[str | None] = []
        pairs: set[tuple[int, int]] = set()
        hot = self.hot_user
        members.append([hot, hot + 1])
        titles.append(None)
        pairs.add((hot, hot + 1))
        attempts = 0
        while len(members) < plan.conversations and attempts < plan.conversations * 5:
            attempts += 1
            if len(members) % 20 == 0:
                size = min(rng.randint(3, 8), plan.users)
                members.append(rng.sample(range(plan.users), size))
                titles.append(f"{rng.choice(TOPICS).title()} club {len(members)}")
                continue
            a, b = rng.randrange(plan.users), rng.randrange(plan.users)
            pair = (min(a, b), max(a, b))
            if a == b or pair in pairs:
                continue
            pairs.add(pair)
            members.append([a, b])
            titles.append(None)
        ids = [self.uid(b"conversation", self.n0["conversations"] + k) for k in range(len(members))]
        created = _ts(self.start)

        def conversations() -> Iterator[str]:
            for k, people in enumerate(members):
                if titles[k] is None:
                    low, high = sorted(self.user_id(p) for p in people)
                    yield f"{ids[k]}\tdirect\t\\N\t{low}\t{high}\t{self.user_id(people[0])}\t" + (
                        f"{created}\t{created}"
                    )
                else:
                    yield (
                        f"{ids[k]}\tgroup\t{titles[k]}\t\\N\t\\N\t{self.user_id(people[0])}\t"
                        f"{created}\t{created}"
                    )

        self.copy(
            "conversations",
            (
                "id",
                "kind",
                "title",
                "direct_low",
                "direct_high",
                "created_by_id",
                "created_at",
                "last_message_at",
            ),
            conversations(),
            len(members),
        )
        read = _ts(self.end)

        first = self.n0["conversations"]

        def participants() -> Iterator[str]:
            for k, people in enumerate(members):
                for n, p in enumerate(people):
                    role = "member" if titles[k] is None or n else "owner"
                    yield (
                        f"{self.uid(b'participant', (first + k) * 16 + n)}\t{ids[k]}\t"
                        f"{self.user_id(p)}\t{role}\t{created}\t{read}"
                    )

        self.copy(
            "conversation_participants",
            ("id", "conversation_id", "user_id", "role", "joined_at", "last_read_at"),
            participants(),
            sum(len(p) for p in members),
        )
        texts = [_esc(m) for m in self.pools.messages]
        hot_count = plan.messages // 2
        span = SPAN.total_seconds()

        first_message = self.n0["messages"]

        def messages() -> Iterator[str]:
            for k in range(plan.messages):
                if k < hot_count:
                    conv = 0
                    # Oldest first, evenly over the last year, unread by nobody.
                    at = self.end - 365 * 86400 * (1 - k / max(hot_count, 1)) - 60
                else:
                    conv = rng.randrange(1, len(members))
                    at = self.start + span * rng.random()
                people = members[conv]
                sender = self.user_id(people[k % len(people)])
                yield (
                    f"{self.uid(b'message', first_message + k)}\t{ids[conv]}\t{sender}\ttext\t"
                    f"{texts[rng.randrange(len(texts))]}\t{_ts(at)}"
                )

        self.copy(
            "messages",
            ("id", "conversation_id", "sender_id", "kind", "body", "created_at"),
            messages(),
            plan.messages,
        )
        self.cur.execute(
            "UPDATE conversations c SET last_message_at = m.newest "
            "FROM (SELECT conversation_id, max(created_at) AS newest FROM messages "
            "WHERE conversation_id = ANY(%s::uuid[]) GROUP BY conversation_id) m "
            "WHERE c.id = m.conversation_id",
            (ids,),
        )

    def _notifications(self) -> None:
        plan, rng = self.plan, self._rng(8)
        if not plan.posts:
            return
        hot_count = plan.notifications // 2
        end = self.end

        numbers = itertools.count(self.n0["notifications"])  # of the rows made

        def rows() -> Iterator[str]:
            for k in range(plan.notifications):
                info = self._published_post(rng, recent=True)
                if info is None:
                    continue
                n = next(numbers)
                user = self.hot_user if k < hot_count else rng.randrange(plan.users)
                if k < hot_count:
                    at = end - 365 * 86400 * (1 - k / max(hot_count, 1))
                else:
                    at = min(info.published + rng.random() * 86400 * 3, end)
                kind = rng.choice(("comment_on_post", "followed_author_posted", "mention"))
                title = _esc(f"New activity on “{info.title}”"[:200])
                read = _ts(at + 3600) if rng.random() < 0.98 else "\\N"
                yield (
                    f"{self.uid(b'notification', n)}\t{self.user_id(user)}\t"
                    f"websocket\t{kind}\t{title}\tSomeone wrote something.\t"
                    f"/posts/{info.slug}\tsent\t{_ts(at)}\t{read}\t"
                    f"{self.uid(b'event', n)}\t{_ts(at)}"
                )

        self.copy(
            "notifications",
            (
                "id",
                "user_id",
                "type",
                "kind",
                "title",
                "message",
                "link",
                "status",
                "sent_at",
                "read_at",
                "event_id",
                "created_at",
            ),
            rows(),
            plan.notifications,
        )

    def _flags(self) -> None:
        plan, rng = self.plan, self._rng(9)
        if not plan.posts or plan.users < 4:
            return
        seen: set[tuple[int, str]] = set()

        numbers = itertools.count(self.n0["flags"])  # of the rows made, some draws skip

        def rows() -> Iterator[str]:
            for _k in range(plan.flags):
                info = self._published_post(rng, recent=True)
                reporter = rng.randrange(2, plan.users)
                if info is None or (reporter, info.id) in seen:
                    continue
                seen.add((reporter, info.id))
                flag_id = self.uid(b"flag", next(numbers))
                yield (
                    f"{flag_id}\t{info.id}\t{self.user_id(reporter)}\t"
                    f"Spam or advertising\t{_ts(min(info.published + 3600, self.end))}"
                )

        self.copy(
            "flags", ("id", "post_id", "reporter_id", "reason", "created_at"), rows(), plan.flags
        )

    def _audit(self) -> None:
        plan, rng = self.plan, self._rng(10)
        actions = (
            ("post.archived", "post", '{"status": "published"}', '{"status": "archived"}'),
            ("comment.removed", "comment", "\\N", '{"reason": "Off topic"}'),
            ("user.suspended", "user", '{"status": "active"}', '{"status": "suspended"}'),
            ("config.changed", "configuration", '{"value": 5}', '{"value": 10}'),
            ("flag.resolved", "flag", "\\N", '{"resolution": "agreed"}'),
        )
        span = SPAN.total_seconds()
        actors = [self.user_id(0), self.user_id(1)]

        first = self.n0["audit_log"]

        def rows() -> Iterator[str]:
            for k in range(plan.audit):
                action, entity, old, new = actions[rng.randrange(len(actions))]
                at = _ts(self.start + span * (k + rng.random()) / max(plan.audit, 1))
                yield (
                    f"{self.uid(b'audit', first + k)}\t{actors[k % 2]}\t{action}\t{entity}\t"
                    f"{self.uid(b'entity', first + k)}\t{old}\t{new}\t127.0.0.1\t{at}"
                )

        self.copy(
            "audit_log",
            (
                "id",
                "actor_id",
                "action",
                "entity_type",
                "entity_id",
                "old_values",
                "new_values",
                "ip",
                "created_at",
            ),
            rows(),
            plan.audit,
        )

    def _finish(self) -> None:
        """Derived columns the services keep: the tags' post counts."""
        from blog.posts.services import refresh_tag_counts_sql

        self.cur.execute(refresh_tag_counts_sql())


def _batches(rows: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _store_avatar_blob() -> tuple[str, int]:
    """One small picture in the configured storage (blob and thumbnail); its checksum, size."""
    import tempfile
    from pathlib import Path

    from PIL import Image

    from blog.uploads.storage import blob_key, get_storage, thumbnail_key

    with tempfile.TemporaryDirectory() as tmp:
        png, webp = Path(tmp, "a.png"), Path(tmp, "a.webp")
        Image.new("RGB", (64, 64), (74, 144, 226)).save(png, format="PNG")
        Image.new("RGB", (64, 64), (74, 144, 226)).save(webp, format="WEBP")
        data = png.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        storage = get_storage()
        storage.put(blob_key(sha), png, "image/png")
        storage.put(thumbnail_key(sha), webp, "image/webp")
        return sha, len(data)


def seed_bulk(plan: Plan, out: Any = sys.stderr) -> dict[str, float]:
    """Load `plan` into the app's database in one transaction (COMMIT at the end)."""
    from blog.extensions import db

    db.session.remove()
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        try:
            result = BulkSeeder(cur, plan, out).run()
        finally:
            cur.close()
        raw.commit()
        return result
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()


@click.command("seed-bulk")
@click.option("--users", type=click.IntRange(4, 1_000_000), default=200, show_default=True)
@click.option("--posts", type=click.IntRange(0, 5_000_000), default=20_000, show_default=True)
@click.option("--comments", type=click.IntRange(0), help="default: 2 a post")
@click.option("--messages", type=click.IntRange(0), help="default: posts / 5")
@click.option("--notifications", type=click.IntRange(0), help="default: posts / 5")
@click.option("--audit", type=click.IntRange(0), help="audit log rows; default: 1 a post")
@click.option("--tags", type=click.IntRange(1, 10_000), help="default: 200")
@click.option(
    "--avatars", type=click.FloatRange(0, 1), help="share of people with an avatar row (0.3)"
)
@click.option("--likes", type=click.FloatRange(0, 1000), help="mean likes per published post (3)")
@click.option("--bookmarks", type=click.IntRange(0), help="default: posts / 4")
@click.option(
    "--replies", type=click.FloatRange(0, 0.9), help="share of comments that are replies (0.35)"
)
@click.option("--seed", type=int, default=1, show_default=True, help="same seed, same data")
@click.option("--append", is_flag=True, help="add to a database that already has data")
@with_appcontext
def seed_bulk_command(  # noqa: PLR0917 - click passes each option by position
    users: int,
    posts: int,
    comments: int | None,
    messages: int | None,
    notifications: int | None,
    audit: int | None,
    tags: int | None,
    avatars: float | None,
    likes: float | None,
    bookmarks: int | None,
    replies: float | None,
    seed: int,
    append: bool,
) -> None:
    """Fill the database with realistic volume (COPY): e.g. --users 100000 --posts 1000000."""
    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("refusing to generate bulk data in production")
    plan = bulk_plan(
        users,
        posts,
        seed,
        comments=comments,
        messages=messages,
        notifications=notifications,
        audit=audit,
        tags=tags,
        avatars=avatars,
        post_likes=likes,
        bookmarks=bookmarks,
        replies=replies,
    )
    plan.append = append
    result = seed_bulk(plan, sys.stderr)
    rate = result["rows"] / max(result["seconds"], 1e-6)
    click.echo(
        f"seed-bulk: {int(result['rows']):,} rows in {result['seconds']:.1f} s "
        f"({rate:,.0f} rows/s, of which {result['index_seconds']:.1f} s index builds and "
        "ANALYZE)."
    )
    click.echo(f"Every account's password: {PASSWORD}  (admin: admin…@example.com)")


def init_bulk(app: Flask) -> None:
    app.cli.add_command(seed_bulk_command)
