"""The run store's tables and their migrations.

``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``; the
version lives in ``PRAGMA user_version``. A store opened by an older aar than
the one that wrote it refuses to run rather than guess.
"""

from __future__ import annotations

from aar.store.cost_ledger import CREATE as COST_LEDGER
from aar.store.search_index import CREATE as SEARCH_INDEX

MIGRATIONS: list[str] = [
    # 0 -> 1: the first schema.
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE events (
        id      INTEGER PRIMARY KEY,
        ts      REAL NOT NULL,
        agent   TEXT,
        kind    TEXT NOT NULL,
        payload TEXT NOT NULL
    );
    CREATE INDEX events_agent ON events (agent, id);
    CREATE TABLE agents (
        name               TEXT PRIMARY KEY,
        backend            TEXT NOT NULL,
        model              TEXT NOT NULL,
        direction          TEXT NOT NULL DEFAULT '',
        status             TEXT NOT NULL DEFAULT 'idle',
        steps              INTEGER NOT NULL DEFAULT 0,
        input_tokens       INTEGER NOT NULL DEFAULT 0,
        output_tokens      INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
        cache_write_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd           REAL NOT NULL DEFAULT 0,
        isolation          TEXT NOT NULL DEFAULT '',
        approval           INTEGER NOT NULL DEFAULT 0,
        started_ts         REAL,
        updated_ts         REAL NOT NULL
    );
    CREATE TABLE transcripts (
        id      INTEGER PRIMARY KEY,
        agent   TEXT NOT NULL,
        step    INTEGER NOT NULL,
        role    TEXT NOT NULL,
        content TEXT NOT NULL,
        ts      REAL NOT NULL
    );
    CREATE INDEX transcripts_agent ON transcripts (agent, id);
    CREATE TABLE forum_posts (
        id        INTEGER PRIMARY KEY,
        ts        REAL NOT NULL,
        author    TEXT NOT NULL,
        parent_id INTEGER REFERENCES forum_posts (id),
        title     TEXT NOT NULL,
        body      TEXT NOT NULL
    );
    CREATE VIRTUAL TABLE forum_fts USING fts5 (
        title, body, author UNINDEXED, content='forum_posts', content_rowid='id'
    );
    CREATE TRIGGER forum_posts_ai AFTER INSERT ON forum_posts BEGIN
        INSERT INTO forum_fts (rowid, title, body, author)
        VALUES (new.id, new.title, new.body, new.author);
    END;
    CREATE TABLE submissions (
        id      INTEGER PRIMARY KEY,
        ts      REAL NOT NULL,
        agent   TEXT NOT NULL,
        kind    TEXT NOT NULL,
        payload TEXT NOT NULL,
        status  TEXT NOT NULL DEFAULT 'queued',
        flags   TEXT NOT NULL DEFAULT '[]',
        error   TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX submissions_agent ON submissions (agent, id);
    CREATE TABLE eval_jobs (
        id          INTEGER PRIMARY KEY,
        ts          REAL NOT NULL,
        kind        TEXT NOT NULL,
        submission_id INTEGER REFERENCES submissions (id),
        spec        TEXT NOT NULL,
        status      TEXT NOT NULL DEFAULT 'queued',
        attempts    INTEGER NOT NULL DEFAULT 0,
        progress    REAL NOT NULL DEFAULT 0,
        detail      TEXT NOT NULL DEFAULT '',
        error       TEXT NOT NULL DEFAULT '',
        worker      TEXT NOT NULL DEFAULT '',
        updated_ts  REAL NOT NULL
    );
    CREATE INDEX eval_jobs_status ON eval_jobs (status, id);
    CREATE TABLE eval_results (
        id            INTEGER PRIMARY KEY,
        ts            REAL NOT NULL,
        job_id        INTEGER NOT NULL REFERENCES eval_jobs (id),
        submission_id INTEGER REFERENCES submissions (id),
        split         TEXT NOT NULL,
        pgr           REAL,
        ci_low        REAL,
        ci_high       REAL,
        metrics       TEXT NOT NULL,
        flags         TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX eval_results_submission ON eval_results (submission_id);
    CREATE TABLE commands (
        id         INTEGER PRIMARY KEY,
        ts         REAL NOT NULL,
        target     TEXT NOT NULL,
        kind       TEXT NOT NULL,
        payload    TEXT NOT NULL DEFAULT '{}',
        status     TEXT NOT NULL DEFAULT 'pending',
        effect     TEXT NOT NULL DEFAULT '',
        applied_ts REAL
    );
    CREATE INDEX commands_pending ON commands (status, id);
    """,
    # 1 -> 2: a submission's label (the file it came from), so a leaderboard row says what scored.
    """
    ALTER TABLE submissions ADD COLUMN label TEXT NOT NULL DEFAULT '';
    UPDATE submissions SET label = COALESCE(json_extract(payload, '$.filename'), '') WHERE kind = 'method';
    """,
    # 2 -> 3: forum moderation (quarantine with a reason, pins) and the checked claims of each post.
    """
    ALTER TABLE forum_posts ADD COLUMN status TEXT NOT NULL DEFAULT 'visible';
    ALTER TABLE forum_posts ADD COLUMN moderation TEXT NOT NULL DEFAULT '';
    ALTER TABLE forum_posts ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE forum_posts ADD COLUMN claims TEXT NOT NULL DEFAULT '[]';
    """,
    # 3 -> 4: the device pool: which device ran a job, when its latest attempt started (the fair
    # queue serves the agent served longest ago) and the device-seconds all its attempts took.
    """
    ALTER TABLE eval_jobs ADD COLUMN device TEXT NOT NULL DEFAULT '';
    ALTER TABLE eval_jobs ADD COLUMN claimed_ts REAL;
    ALTER TABLE eval_jobs ADD COLUMN device_s REAL NOT NULL DEFAULT 0;
    """,
    # 4 -> 5: the supervisor's inbox (derived from the event log by the daemon, rebuildable: one row per
    # source event), its acknowledgements (written by whoever acknowledges, kept apart so a rebuild keeps
    # them) and the budget changes the supervisor made (one set of rows per command: applied exactly once).
    """
    CREATE TABLE inbox (
        id            INTEGER PRIMARY KEY,
        source_event  INTEGER NOT NULL UNIQUE,
        ts            REAL NOT NULL,
        agent         TEXT,
        kind          TEXT NOT NULL,
        rank          INTEGER NOT NULL,
        summary       TEXT NOT NULL,
        call_id       TEXT,
        post_id       INTEGER,
        submission_id INTEGER,
        job_id        INTEGER,
        cleared_event INTEGER
    );
    CREATE INDEX inbox_open ON inbox (rank, id) WHERE cleared_event IS NULL;
    CREATE INDEX inbox_waiting ON inbox (agent, kind) WHERE cleared_event IS NULL;
    CREATE TABLE inbox_acks (
        source_event INTEGER PRIMARY KEY,
        by           TEXT NOT NULL,
        ts           REAL NOT NULL
    );
    CREATE TABLE budget_changes (
        id         INTEGER PRIMARY KEY,
        command_id INTEGER NOT NULL REFERENCES commands (id),
        ts         REAL NOT NULL,
        agent      TEXT NOT NULL,
        resource   TEXT NOT NULL,
        delta      REAL NOT NULL,
        source     TEXT NOT NULL DEFAULT '',
        UNIQUE (command_id, agent)
    );
    CREATE INDEX budget_changes_agent ON budget_changes (agent, resource);
    """,
    # 5 -> 6: a job's training throughput (examples/s, tokens/s, padding, peak memory, MFU), as JSON.
    """
    ALTER TABLE eval_jobs ADD COLUMN stats TEXT NOT NULL DEFAULT '{}';
    """,
    # 6 -> 7: a submission's relations to earlier ones that are not flags against it, as JSON
    # (``method behind #N``: a method whose output is its own author's earlier prediction file).
    """
    ALTER TABLE submissions ADD COLUMN links TEXT NOT NULL DEFAULT '[]';
    """,
    # 7 -> 8: which supervisor messages (redirects, broadcasts, answers) each agent has read: one row per
    # (command, agent), written in the transaction that appends the message to the transcript, so a resume
    # delivers exactly the ones missing. Rows for messages an older aar delivered are recovered from the
    # transcripts: a text block of a user message that begins with the command's marker.
    """
    CREATE TABLE deliveries (
        command_id INTEGER NOT NULL,
        agent      TEXT NOT NULL,
        message_id INTEGER NOT NULL REFERENCES transcripts (id),
        ts         REAL NOT NULL,
        PRIMARY KEY (command_id, agent)
    );
    INSERT OR IGNORE INTO deliveries (command_id, agent, message_id, ts)
    SELECT c.id, t.agent, t.id, t.ts
      FROM commands AS c
      JOIN transcripts AS t ON t.agent = c.target OR c.target = '*'
      JOIN json_each(t.content) AS block
     WHERE c.status = 'applied'
       AND c.kind IN ('redirect', 'answer')
       AND t.role IN ('user', 'archived:user')
       AND json_type(t.content) = 'array'
       AND json_extract(t.content, block.fullkey || '.type') = 'text'
       AND substr(json_extract(t.content, block.fullkey || '.text'), 1, length('[Supervisor message, command #' || c.id || ']'))
           = '[Supervisor message, command #' || c.id || ']';
    """,
    # 8 -> 9: full-text search over every transcript (thinking, tool calls, tool outputs) and post: posts by
    # a trigger and from what the store holds, transcripts folded by the daemon from a cursor in ``meta``
    # (``aar.store.search_index``).
    SEARCH_INDEX,
    # 9 -> 10: events by kind, so a question about one kind over a period (the digest's spend, pauses,
    # monitor actions) reads those events, not every event of the period.
    """
    CREATE INDEX events_kind ON events (kind, id);
    """,
    # 10 -> 11: replay's state checkpoints, one every ``aar.checkpoint.EVERY`` events, written by the daemon
    # (``aar.checkpoint``): derived data that only makes a jump to a moment fast; deleting them loses nothing.
    """
    CREATE TABLE checkpoints (
        event_id INTEGER PRIMARY KEY,
        ts       REAL NOT NULL,
        state    TEXT NOT NULL
    );
    """,
    # 11 -> 12: branches, agents started from another's past step (``aar.store.branch_table``); the step whose
    # compaction archived each transcript row, so a branch takes what was live after its step.
    """
    ALTER TABLE transcripts ADD COLUMN compacted_at INTEGER;
    ALTER TABLE agents ADD COLUMN lineage TEXT NOT NULL DEFAULT '';
    CREATE TABLE branches (
        agent         TEXT PRIMARY KEY REFERENCES agents (name),
        parent        TEXT NOT NULL REFERENCES agents (name),
        step          INTEGER NOT NULL,
        snapshot_id   INTEGER NOT NULL,
        snapshot_step INTEGER NOT NULL,
        guidance      TEXT NOT NULL,
        dollars       REAL NOT NULL DEFAULT 0,
        tokens        INTEGER NOT NULL DEFAULT 0,
        wall_clock_s  REAL NOT NULL DEFAULT 0,
        command_id    INTEGER NOT NULL UNIQUE,
        ts            REAL NOT NULL
    );
    CREATE INDEX branches_parent ON branches (parent);
    """,
    # 12 -> 13: content-addressed snapshots of the agents' workspaces (``aar.snapshots``): the blobs live in
    # ``snapshots/blobs/`` beside the store, each row lists its files and their blobs in ``manifest`` (JSON).
    """
    CREATE TABLE snapshots (
        id          INTEGER PRIMARY KEY,
        agent       TEXT NOT NULL,
        step        INTEGER NOT NULL,
        ts          REAL NOT NULL,
        reason      TEXT NOT NULL,
        files       INTEGER NOT NULL,
        bytes       INTEGER NOT NULL,  -- the files' total size
        added_bytes INTEGER NOT NULL,  -- the size of the new blobs it wrote
        skipped     INTEGER NOT NULL,
        pinned      INTEGER NOT NULL DEFAULT 0,
        manifest    TEXT NOT NULL      -- a JSON list of entries (aar.snapshot_blobs.SnapshotEntry)
    );
    CREATE INDEX snapshots_agent ON snapshots (agent, step);
    """,
    # 13 -> 14: what each tool cost, a ledger kept as spend commits (``aar.store.cost_ledger``), with the rows of
    # every step already written; the agents' statuses by value, so counting a night's pauses (the digest) reads
    # the pauses, not every status change.
    COST_LEDGER
    + """
    CREATE INDEX events_status ON events (json_extract(payload, '$.status'), id) WHERE kind = 'agent.status';
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 10000",
)
