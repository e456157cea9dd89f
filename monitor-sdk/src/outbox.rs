//! The SQLite outbox: the device's uploads (the app's queue, mirrored) and the events not yet
//! acknowledged by the server, with count, byte and age caps and a dead-letter table.
//!
//! One reporter owns one database file. Every enqueue and every acknowledgement is one
//! transaction, so a process killed at any instant leaves either the whole change or none
//! of it: the upload's row and its events always agree.

use std::path::Path;

use monitor_core::{UploadEvent, UploadRecord};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use uuid::Uuid;

use crate::error::SdkError;

/// The outbox file's schema as ordered migrations (as matrix-sdk-sqlite keeps its stores):
/// `PRAGMA user_version` is how many have run on the file, and an open runs the missing
/// ones, in order, in one transaction. A change to the schema is a new entry at the end;
/// an entry that has shipped is never edited (phones in the field have run it).
const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2];

/// The schema version this build writes: the number of ordered migrations the outbox applies.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Version 1: the schema as the SDK created it before the file had a version (its files
/// say `user_version` 0 with these tables present, hence `if not exists`: on such a file
/// this migration changes nothing, and on a new file it creates everything).
const SCHEMA_V1: &str = "
create table if not exists uploads (
  upload_id     text primary key,
  local_id      text not null,
  uri           text,
  filename      text not null,
  title         text,
  status        text not null,
  stage         text,
  progress      integer not null,
  error         text,
  retry_count   integer not null,
  metadata      text not null default '{}',
  last_seq      integer not null,
  record        text not null,
  updated_at_ms integer not null
);
create index if not exists uploads_local_id on uploads (local_id);
create table if not exists outbox (
  position       integer primary key autoincrement,
  event_id       text not null unique,
  upload_id      text not null,
  kind           text not null,
  body           text not null,
  bytes          integer not null,
  enqueued_at_ms integer not null
);
create index if not exists outbox_upload on outbox (upload_id, position);
create table if not exists dead_letter (
  event_id  text primary key,
  upload_id text not null,
  kind      text not null,
  body      text not null,
  reason    text not null,
  at_ms     integer not null
);
-- Upload rows that could not be read back (a bad write, a flipped page): kept for support,
-- out of the way of the rest.
create table if not exists quarantined_uploads (
  upload_id text,
  local_id  text,
  record    text,
  uri       text,
  metadata  text,
  reason    text not null,
  at_ms     integer not null
);
create table if not exists counters (name text primary key, value integer not null);
create table if not exists meta (name text primary key, value text not null);
";

/// Version 2: the `uploads` columns that copied the record's fields (written at every
/// enqueue, read by no query: `record` is the upload's state) and the `local_id` index (the
/// SDK finds uploads by local id in memory) go; every write is that much smaller.
/// `local_id` stays: a quarantined row keeps it for support.
const SCHEMA_V2: &str = "
drop index if exists uploads_local_id;
alter table uploads drop column filename;
alter table uploads drop column title;
alter table uploads drop column status;
alter table uploads drop column stage;
alter table uploads drop column progress;
alter table uploads drop column error;
alter table uploads drop column retry_count;
alter table uploads drop column last_seq;
";

/// Brings the file to [`SCHEMA_VERSION`]: runs the migrations it has not run, in one
/// immediate transaction (a crash mid-way leaves the old version whole), then records the
/// version. Returns the version the file had.
///
/// # Errors
///
/// [`SdkError::OutboxSchemaTooNew`] for a file written by a newer SDK (an app downgraded:
/// this build cannot know what that schema means, and leaves it untouched); storage errors.
fn migrate(conn: &mut Connection) -> Result<i64, SdkError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("pragma user_version", [], |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(SdkError::OutboxSchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    // `found` is in 0..=SCHEMA_VERSION here, so the slice is in bounds.
    for (n, migration) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute_batch(migration)?;
        tracing::info!(version = n + 1, "outbox schema migrated");
    }
    // A pragma takes no bound parameter; the value is this build's constant.
    tx.execute_batch(&format!("pragma user_version = {SCHEMA_VERSION}"))?;
    tx.commit()?;
    Ok(found)
}

/// Counter names in the `counters` table.
mod counter {
    /// Progress events evicted or not stored because of the caps or their age.
    pub const DROPPED: &str = "dropped";
    /// Non-progress events refused at the caps (the call returned `QueueFull`).
    pub const REFUSED: &str = "refused";
    /// Events moved to the dead-letter table.
    pub const DEAD_LETTERED: &str = "dead_lettered";
    /// Events the server acknowledged.
    pub const DELIVERED: &str = "delivered";
    /// Of those, the ones the server already had (duplicate or superseded).
    pub const ALREADY_THERE: &str = "already_there";
    /// Rows that could not be read back, moved aside (outbox rows to the dead-letter table,
    /// upload rows to `quarantined_uploads`).
    pub const QUARANTINED: &str = "quarantined";
}

/// The outbox's caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Most events kept unsent.
    pub max_events: u64,
    /// Most bytes of event JSON kept unsent.
    pub max_bytes: u64,
}

/// An upload's row as one enqueue leaves it.
#[derive(Debug, Clone, Copy)]
pub struct UploadChange<'a> {
    /// The upload after the events (the SDK's validation state).
    pub record: &'a UploadRecord,
    /// The video's local path (`ImportVideoItem.uri`), when known; kept when None.
    pub uri: Option<&'a str>,
    /// The app's metadata JSON, given at begin; kept when None.
    pub metadata_json: Option<&'a str>,
}

/// What an enqueue did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// The events and the upload's row are stored.
    Stored,
    /// Progress only, and the outbox is full: nothing stored, counted as dropped (the
    /// next progress or the terminal event carries the news).
    DroppedProgress,
}

/// One stored, unsent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    /// Its place in the outbox (insertion order).
    pub position: i64,
    /// The event id.
    pub event_id: Uuid,
    /// The upload it reports about.
    pub upload_id: Uuid,
    /// The wire JSON.
    pub body: String,
}

/// The two ids of a stored body, checked against its row before it is sent (a body that is
/// not an event, or names another event, would get no verdict and be resent forever).
#[derive(serde::Deserialize)]
struct BodyIds {
    id: Uuid,
    upload_id: Uuid,
}

/// A row that cannot be sent as stored, and why.
struct Unreadable {
    position: i64,
    reason: Corruption,
}

/// Sorts one stored row: sendable, or the reason it is not.
fn read_pending(
    position: i64,
    event_id: &str,
    upload_id: &str,
    body: String,
) -> Result<PendingEvent, Unreadable> {
    let bad = |reason| Unreadable { position, reason };
    let event_id = Uuid::parse_str(event_id).map_err(|_| bad(Corruption::EventIdNotUuid))?;
    let upload_id = Uuid::parse_str(upload_id).map_err(|_| bad(Corruption::UploadIdNotUuid))?;
    let ids: BodyIds = serde_json::from_str(&body).map_err(|_| bad(Corruption::BodyNotEvent))?;
    if ids.id != event_id || ids.upload_id != upload_id {
        return Err(bad(Corruption::BodyMismatch));
    }
    Ok(PendingEvent {
        position,
        event_id,
        upload_id,
        body,
    })
}

/// Which uploads' events [`Outbox::peek_in`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter<'a> {
    /// Every upload's.
    All,
    /// Every upload's but these (the parked ones).
    Excluding(&'a [Uuid]),
    /// This upload's only.
    Only(Uuid),
}

/// The server's judgement of one sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Applied: the server has it, and it took effect; forget it.
    Delivered(i64),
    /// Duplicate or superseded: the server already had it (a resend after a lost answer, or
    /// progress overtaken by a newer report); forget it, and count it apart.
    AlreadyThere(i64),
    /// Refused (or expired): keep it in the dead-letter table with the reason.
    DeadLetter(i64, DeadLetterReason),
}

/// Why an event left the outbox undelivered. Stored in `dead_letter.reason` as its
/// [`DeadLetterReason::as_text`] (the words the table has always held, so support's
/// queries and rows written by older SDKs read the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// The server's per-event verdict `rejected` with this rule (`invalid_payload`...).
    Rejected(monitor_core::RejectReason),
    /// A bisected single-event 400 or 413 (`http_400`).
    Http(u16),
    /// Older than the age cap before it could be delivered (`expired`).
    Expired,
    /// The row could not be sent as stored (`corrupt: ...`): quarantined.
    Corrupt(Corruption),
}

/// What was wrong with a quarantined row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Corruption {
    /// The outbox row's `event_id` is not a UUID.
    EventIdNotUuid,
    /// The outbox row's `upload_id` is not a UUID.
    UploadIdNotUuid,
    /// The stored body is not an event.
    BodyNotEvent,
    /// The body names another event or upload than its row.
    BodyMismatch,
    /// An `uploads` row's record could not be read back (moved to `quarantined_uploads`).
    RecordUnreadable,
}

impl Corruption {
    /// The stored words.
    pub fn as_str(self) -> &'static str {
        match self {
            Corruption::EventIdNotUuid => "corrupt: event_id is not a UUID",
            Corruption::UploadIdNotUuid => "corrupt: upload_id is not a UUID",
            Corruption::BodyNotEvent => "corrupt: body is not an event",
            Corruption::BodyMismatch => "corrupt: body does not match its row",
            Corruption::RecordUnreadable => "corrupt: record unreadable",
        }
    }
}

impl DeadLetterReason {
    /// The text stored in `dead_letter.reason`.
    ///
    /// ```
    /// use monitor_sdk::outbox::{Corruption, DeadLetterReason};
    /// assert_eq!(DeadLetterReason::Http(413).as_text(), "http_413");
    /// assert_eq!(DeadLetterReason::Expired.as_text(), "expired");
    /// assert_eq!(
    ///     DeadLetterReason::Corrupt(Corruption::BodyNotEvent).as_text(),
    ///     "corrupt: body is not an event"
    /// );
    /// ```
    pub fn as_text(self) -> std::borrow::Cow<'static, str> {
        match self {
            DeadLetterReason::Rejected(reason) => reason.as_str().into(),
            DeadLetterReason::Http(status) => format!("http_{status}").into(),
            DeadLetterReason::Expired => "expired".into(),
            DeadLetterReason::Corrupt(what) => what.as_str().into(),
        }
    }
}

impl std::fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_text())
    }
}

/// Figures for `health()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Events waiting.
    pub pending_events: u64,
    /// Bytes waiting.
    pub pending_bytes: u64,
    /// When the oldest waiting event was stored (Unix ms).
    pub oldest_enqueued_at_ms: Option<i64>,
    /// Progress events dropped by the caps or age.
    pub dropped: u64,
    /// Non-progress events refused at the caps.
    pub refused: u64,
    /// Events in the dead-letter table (ever).
    pub dead_lettered: u64,
    /// Events the server acknowledged (ever).
    pub delivered: u64,
    /// Of those, the ones it already had: duplicates and superseded progress (ever).
    pub already_there: u64,
    /// Rows that could not be read back and were moved aside (ever): outbox rows into the
    /// dead-letter table with a `corrupt: ...` reason, upload rows into
    /// `quarantined_uploads`.
    pub quarantined: u64,
    /// The last delivery error, if any since the last success.
    pub last_error: Option<String>,
    /// Unix ms of the last acknowledged batch.
    pub last_success_at_ms: Option<i64>,
}

/// One row of the `uploads` table: the app's `ImportVideoItem` fields plus the upload id and
/// last seq.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRow {
    /// The SDK's record (validation state).
    pub record: UploadRecord,
    /// `ImportVideoItem.uri`.
    pub uri: Option<String>,
    /// The app's metadata JSON.
    pub metadata_json: String,
}

/// How long a statement waits for another connection's lock before giving up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The SQLite outbox.
#[derive(Debug)]
pub struct Outbox {
    conn: Connection,
    caps: Caps,
    // Running totals of the outbox table, so the caps cost no COUNT(*) per enqueue. Another
    // connection may write the same file (a reporter reopened while the previous one still
    // winds down, two reporters on one path): every write transaction takes the write lock
    // first and recounts when SQLite's data_version says someone else committed.
    count: u64,
    bytes: u64,
    /// `PRAGMA data_version` when the totals were last known exact.
    seen_version: i64,
    /// Rows quarantined by `peek` since the last [`Outbox::take_quarantined`].
    quarantined_now: u64,
}

/// Starts a write transaction holding the database's write lock (no other connection can
/// commit until it ends), and brings `count`/`bytes` up to date if another connection
/// committed since `seen_version`.
fn begin_write<'c>(
    conn: &'c mut Connection,
    seen_version: &mut i64,
    count: &mut u64,
    bytes: &mut u64,
) -> Result<Transaction<'c>, SdkError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("pragma data_version", [], |row| row.get(0))?;
    if version != *seen_version {
        let (n, b): (i64, i64) = tx.query_row(
            "select count(*), coalesce(sum(bytes), 0) from outbox",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        *count = to_u64(n);
        *bytes = to_u64(b);
        *seen_version = version;
    }
    Ok(tx)
}

impl Outbox {
    /// Opens (creating if needed) the database at `path`, migrating its schema to
    /// [`SCHEMA_VERSION`].
    ///
    /// # Errors
    ///
    /// [`SdkError::Storage`] when the file cannot be opened or the schema applied,
    /// [`SdkError::OutboxSchemaTooNew`] for a file of a newer SDK.
    pub fn open(path: &Path, caps: Caps) -> Result<Self, SdkError> {
        let mut conn = Connection::open(path)?;
        // A reporter reopened right after a restart may meet the old handle's checkpoint or
        // last write: wait for it rather than fail. First, before any statement: the
        // journal_mode pragma below needs the lock too.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: the flusher's reads and the app's writes do not block each other, and an
        // append is one sequential write.
        conn.pragma_update(None, "journal_mode", "wal")?;
        // NORMAL in WAL mode: a commit survives the app being killed (the pages are in the
        // OS's cache); only an OS crash or power loss can lose the last commits, and FULL
        // would fsync on every terminal report (milliseconds on a phone's flash).
        conn.pragma_update(None, "synchronous", "normal")?;
        migrate(&mut conn)?;
        // The version first: a commit by another handle between the two reads then shows as
        // a newer version at the next write, which recounts (the other order could keep a
        // count that misses that commit under a version that includes it).
        let seen_version = conn.query_row("pragma data_version", [], |row| row.get(0))?;
        let (count, bytes): (i64, i64) = conn.query_row(
            "select count(*), coalesce(sum(bytes), 0) from outbox",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok(Outbox {
            conn,
            caps,
            count: to_u64(count),
            bytes: to_u64(bytes),
            seen_version,
            quarantined_now: 0,
        })
    }

    /// Changes the caps (they apply from the next enqueue).
    pub fn set_caps(&mut self, caps: Caps) {
        self.caps = caps;
    }

    /// Every upload's record, for the in-memory validation state, and how many rows were
    /// quarantined. A row whose record cannot be read back is moved to
    /// `quarantined_uploads` (counted) instead of making the outbox unopenable for good; its
    /// waiting events stay and are still sent (they are self-contained), but the device no
    /// longer tracks the upload.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn load_records(&mut self, now_ms: i64) -> Result<(Vec<UploadRecord>, usize), SdkError> {
        let mut records = Vec::new();
        let mut unreadable = Vec::new();
        {
            let mut statement = self
                .conn
                .prepare("select rowid, record from uploads order by updated_at_ms")?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let rowid: i64 = row.get(0)?;
                // Text expected; anything else (a blob, a number) is as unreadable as bad JSON.
                let record = row
                    .get::<_, String>(1)
                    .ok()
                    .and_then(|json| serde_json::from_str::<UploadRecord>(&json).ok());
                match record {
                    Some(record) => records.push(record),
                    None => unreadable.push(rowid),
                }
            }
        }
        if !unreadable.is_empty() {
            let tx = self.conn.transaction()?;
            for rowid in &unreadable {
                tx.execute(
                    "insert into quarantined_uploads \
                       (upload_id, local_id, record, uri, metadata, reason, at_ms) \
                     select upload_id, local_id, record, uri, metadata, ?3, ?2 \
                     from uploads where rowid = ?1",
                    params![rowid, now_ms, Corruption::RecordUnreadable.as_str()],
                )?;
                tx.execute("delete from uploads where rowid = ?1", [rowid])?;
            }
            bump(&tx, counter::QUARANTINED, unreadable.len() as u64)?;
            tx.commit()?;
            tracing::error!(
                rows = unreadable.len(),
                "unreadable upload rows moved to quarantined_uploads"
            );
        }
        Ok((records, unreadable.len()))
    }

    /// Every upload row, newest first (the app's `list_uploads`).
    ///
    /// # Errors
    ///
    /// Storage or decoding failures.
    pub fn list_uploads(&self) -> Result<Vec<UploadRow>, SdkError> {
        let mut statement = self.conn.prepare(
            "select record, uri, metadata from uploads order by updated_at_ms desc, rowid desc",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (record, uri, metadata_json) = row?;
            // A row spoilt since the open is skipped here and quarantined at the next open.
            match serde_json::from_str(&record) {
                Ok(record) => out.push(UploadRow {
                    record,
                    uri,
                    metadata_json,
                }),
                Err(error) => tracing::error!(%error, "an unreadable upload row was skipped"),
            }
        }
        Ok(out)
    }

    /// Stores `events` (all of `change.record`'s upload, in seq order) and the upload's new
    /// row, in one transaction, within the caps.
    ///
    /// At the caps: superseded progress (an older progress of an upload that has a newer
    /// event waiting) is evicted first, then the oldest progress; a progress-only enqueue
    /// that still does not fit is dropped and counted; anything else that does not fit is
    /// refused with [`SdkError::QueueFull`] and counted, never dropped silently.
    ///
    /// # Errors
    ///
    /// [`SdkError::QueueFull`], or storage failures (nothing is stored then).
    pub fn enqueue(
        &mut self,
        change: UploadChange<'_>,
        events: &[UploadEvent],
        now_ms: i64,
    ) -> Result<Enqueued, SdkError> {
        let mut outcomes = self.enqueue_all(&[(change, events)], now_ms)?;
        // One item in, so one answer out (`enqueue_all` answers every item it tries, and it
        // always tries the first): the fallback is never taken.
        outcomes.pop().unwrap_or(Ok(Enqueued::Stored))
    }

    /// [`Outbox::enqueue`] for many uploads in one transaction (an import: one commit per
    /// chunk instead of one per item), each item under the caps as if enqueued alone.
    ///
    /// Stops at the first item refused at the caps ([`SdkError::QueueFull`]): the items
    /// before it are stored, it is refused and counted, and the items after it are not
    /// tried (the answer is shorter than `items`; nothing frees room within one call, and
    /// each refusal would scan the outbox for evictable progress again).
    ///
    /// # Errors
    ///
    /// Storage failures: nothing of the call is stored then. Per item: [`SdkError::QueueFull`]
    /// (in the answer, not as the call's error).
    pub fn enqueue_all(
        &mut self,
        items: &[(UploadChange<'_>, &[UploadEvent])],
        now_ms: i64,
    ) -> Result<Vec<Result<Enqueued, SdkError>>, SdkError> {
        let mut bodies = Vec::with_capacity(items.len());
        for (_, events) in items {
            let mut these = Vec::with_capacity(events.len());
            for event in *events {
                these.push(serde_json::to_string(event)?);
            }
            bodies.push(these);
        }
        let caps = self.caps;
        let tx = begin_write(
            &mut self.conn,
            &mut self.seen_version,
            &mut self.count,
            &mut self.bytes,
        )?;
        let mut totals = (self.count, self.bytes);
        let mut outcomes = Vec::with_capacity(items.len());
        for ((change, events), bodies) in items.iter().zip(&bodies) {
            match stage(&tx, caps, &mut totals, *change, events, bodies, now_ms) {
                Ok(stored) => outcomes.push(Ok(stored)),
                Err(full @ SdkError::QueueFull { .. }) => {
                    outcomes.push(Err(full));
                    break;
                }
                // Dropping `tx` rolls the whole call back; the totals stay as they were.
                Err(other) => return Err(other),
            }
        }
        tx.commit()?;
        (self.count, self.bytes) = totals;
        Ok(outcomes)
    }

    /// Updates an upload's row without an event (an import that only records the app's uri).
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn save_upload(&mut self, change: UploadChange<'_>, now_ms: i64) -> Result<(), SdkError> {
        let tx = self.conn.transaction()?;
        upsert_upload(&tx, change, now_ms)?;
        tx.commit()?;
        Ok(())
    }

    /// The oldest `limit` unsent events, in insertion order.
    ///
    /// A row that cannot be sent as stored (an id that is not a UUID, a body that is not
    /// the event of its row) is quarantined on the way: moved to the dead-letter table with
    /// a `corrupt: ...` reason and counted, so one bad row never stops delivery.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn peek(&mut self, limit: usize) -> Result<Vec<PendingEvent>, SdkError> {
        self.peek_in(limit, Filter::All)
    }

    /// [`Outbox::peek`] restricted to some uploads' events (see [`Filter`]).
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn peek_in(
        &mut self,
        limit: usize,
        filter: Filter<'_>,
    ) -> Result<Vec<PendingEvent>, SdkError> {
        const COLUMNS: &str = "select position, event_id, upload_id, body from outbox";
        loop {
            let mut good = Vec::new();
            let mut bad = Vec::new();
            {
                let (mut statement, key) = match filter {
                    // The common case keeps its one cached statement: nothing parked.
                    Filter::All | Filter::Excluding([]) => (
                        self.conn.prepare_cached(&format!(
                            "{COLUMNS} where ?2 is null order by position limit ?1"
                        ))?,
                        None,
                    ),
                    Filter::Excluding(uploads) => (
                        self.conn.prepare_cached(&format!(
                            "{COLUMNS} where upload_id not in (select value from json_each(?2)) \
                             order by position limit ?1"
                        ))?,
                        Some(id_list(uploads)),
                    ),
                    // The (upload_id, position) index answers this one.
                    Filter::Only(upload) => (
                        self.conn.prepare_cached(&format!(
                            "{COLUMNS} where upload_id = ?2 order by position limit ?1"
                        ))?,
                        Some(upload.to_string()),
                    ),
                };
                let mut rows = statement.query(params![limit as i64, key])?;
                while let Some(row) = rows.next()? {
                    let position: i64 = row.get(0)?;
                    // Text columns by schema; a value of another type is as corrupt as a
                    // malformed one.
                    let text = |i| row.get::<_, String>(i).unwrap_or_default();
                    match read_pending(position, &text(1), &text(2), text(3)) {
                        Ok(event) => good.push(event),
                        Err(unreadable) => bad.push(unreadable),
                    }
                }
            }
            if bad.is_empty() {
                return Ok(good);
            }
            self.quarantine(&bad, chrono::Utc::now().timestamp_millis())?;
        }
    }

    /// Moves unsendable outbox rows to the dead-letter table with their reason.
    fn quarantine(&mut self, rows: &[Unreadable], now_ms: i64) -> Result<(), SdkError> {
        let tx = begin_write(
            &mut self.conn,
            &mut self.seen_version,
            &mut self.count,
            &mut self.bytes,
        )?;
        let (mut count, mut bytes) = (self.count, self.bytes);
        for row in rows {
            // `or replace`: the dead-letter key is the event id, which a corrupt row may
            // share with another.
            tx.execute(
                "insert or replace into dead_letter (event_id, upload_id, kind, body, reason, at_ms) \
                 select coalesce(cast(event_id as text), ''), coalesce(cast(upload_id as text), ''), \
                   coalesce(cast(kind as text), ''), coalesce(cast(body as text), ''), ?2, ?3 \
                 from outbox where position = ?1",
                params![row.position, row.reason.as_str(), now_ms],
            )?;
            let gone: Option<i64> = tx
                .query_row(
                    "delete from outbox where position = ?1 returning bytes",
                    [row.position],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(b) = gone {
                count = count.saturating_sub(1);
                bytes = bytes.saturating_sub(to_u64(b));
            }
            tracing::error!(
                position = row.position,
                reason = row.reason.as_str(),
                "outbox row quarantined"
            );
        }
        bump(&tx, counter::QUARANTINED, rows.len() as u64)?;
        bump(&tx, counter::DEAD_LETTERED, rows.len() as u64)?;
        tx.commit()?;
        self.count = count;
        self.bytes = bytes;
        self.quarantined_now += rows.len() as u64;
        Ok(())
    }

    /// How many rows `peek` quarantined since the last call (for the flusher to report).
    pub fn take_quarantined(&mut self) -> u64 {
        std::mem::take(&mut self.quarantined_now)
    }

    /// The oldest position of an event outside `parked`'s uploads, None when there is none.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn first_position_excluding(&self, parked: &[Uuid]) -> Result<Option<i64>, SdkError> {
        if parked.is_empty() {
            return self.first_position();
        }
        Ok(self.conn.query_row(
            "select min(position) from outbox \
             where upload_id not in (select value from json_each(?1))",
            [id_list(parked)],
            |row| row.get(0),
        )?)
    }

    /// How many of `uploads` have events waiting at positions up to `up_to`, and how many
    /// events that is (all positions when None).
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn waiting_in(&self, uploads: &[Uuid], up_to: Option<i64>) -> Result<(u64, u64), SdkError> {
        if uploads.is_empty() {
            return Ok((0, 0));
        }
        let (n, events): (i64, i64) = self.conn.query_row(
            "select count(distinct upload_id), count(*) from outbox \
             where upload_id in (select value from json_each(?1)) \
               and (?2 is null or position <= ?2)",
            params![id_list(uploads), up_to],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok((to_u64(n), to_u64(events)))
    }

    /// The newest stored position (what a flush waits for), None when empty.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn last_position(&self) -> Result<Option<i64>, SdkError> {
        Ok(self
            .conn
            .query_row("select max(position) from outbox", [], |row| row.get(0))?)
    }

    /// The oldest stored position, None when empty.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn first_position(&self) -> Result<Option<i64>, SdkError> {
        Ok(self
            .conn
            .query_row("select min(position) from outbox", [], |row| row.get(0))?)
    }

    /// Applies the server's answer to a batch, in one transaction: delivered events leave,
    /// refused ones move to the dead-letter table. Records the success time.
    ///
    /// # Errors
    ///
    /// Storage failures (nothing changes then; the batch is resent, harmlessly).
    pub fn settle(&mut self, settlements: &[Settlement], now_ms: i64) -> Result<(), SdkError> {
        let tx = begin_write(
            &mut self.conn,
            &mut self.seen_version,
            &mut self.count,
            &mut self.bytes,
        )?;
        let (mut count, mut bytes) = (self.count, self.bytes);
        let (mut delivered, mut dead, mut already) = (0, 0, 0);
        for settlement in settlements {
            let position = match settlement {
                Settlement::Delivered(p)
                | Settlement::AlreadyThere(p)
                | Settlement::DeadLetter(p, _) => *p,
            };
            if let Settlement::AlreadyThere(_) = settlement {
                already += 1;
            }
            if let Settlement::DeadLetter(_, reason) = settlement {
                let moved = tx.execute(
                    "insert or replace into dead_letter (event_id, upload_id, kind, body, reason, at_ms) \
                     select event_id, upload_id, kind, body, ?2, ?3 from outbox where position = ?1",
                    params![position, reason.as_text(), now_ms],
                )?;
                dead += moved as u64;
            } else {
                delivered += 1;
            }
            let gone: Option<i64> = tx
                .query_row(
                    "delete from outbox where position = ?1 returning bytes",
                    [position],
                    |row| row.get(0),
                )
                .optional()?;
            if let Some(b) = gone {
                count = count.saturating_sub(1);
                bytes = bytes.saturating_sub(to_u64(b));
            }
        }
        bump(&tx, counter::DELIVERED, delivered)?;
        bump(&tx, counter::ALREADY_THERE, already)?;
        bump(&tx, counter::DEAD_LETTERED, dead)?;
        if delivered > 0 {
            set_meta(&tx, "last_success_at_ms", &now_ms.to_string())?;
            tx.execute("delete from meta where name = 'last_error'", [])?;
        }
        tx.commit()?;
        self.count = count;
        self.bytes = bytes;
        Ok(())
    }

    /// Applies the age cap: progress older than `max_age_ms` is dropped (counted); other
    /// events that old go to the dead-letter table as `expired` (counted, visible in
    /// `health()`). Returns how many events left.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn expire(&mut self, max_age_ms: i64, now_ms: i64) -> Result<u64, SdkError> {
        let cutoff = now_ms.saturating_sub(max_age_ms);
        // The oldest row by position (the primary key: no scan) decides whether anything
        // can be old: rows are appended with the device's clock, so positions and times
        // rise together (a clock stepped back only delays an expiry).
        let oldest: Option<i64> = self
            .conn
            .query_row(
                "select enqueued_at_ms from outbox order by position limit 1",
                [],
                |row| row.get(0),
            )
            .optional()?;
        if oldest.is_none_or(|t| t >= cutoff) {
            return Ok(0);
        }
        let tx = begin_write(
            &mut self.conn,
            &mut self.seen_version,
            &mut self.count,
            &mut self.bytes,
        )?;
        let (dropped, dropped_bytes): (i64, i64) = tx.query_row(
            "select count(*), coalesce(sum(bytes), 0) from outbox \
             where enqueued_at_ms < ?1 and kind = 'progress'",
            [cutoff],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        tx.execute(
            "delete from outbox where enqueued_at_ms < ?1 and kind = 'progress'",
            [cutoff],
        )?;
        let (expired, expired_bytes): (i64, i64) = tx.query_row(
            "select count(*), coalesce(sum(bytes), 0) from outbox where enqueued_at_ms < ?1",
            [cutoff],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        tx.execute(
            "insert or replace into dead_letter (event_id, upload_id, kind, body, reason, at_ms) \
             select event_id, upload_id, kind, body, ?3, ?2 from outbox \
             where enqueued_at_ms < ?1",
            params![cutoff, now_ms, DeadLetterReason::Expired.as_text()],
        )?;
        tx.execute("delete from outbox where enqueued_at_ms < ?1", [cutoff])?;
        bump(&tx, counter::DROPPED, to_u64(dropped))?;
        bump(&tx, counter::DEAD_LETTERED, to_u64(expired))?;
        tx.commit()?;
        self.count = self.count.saturating_sub(to_u64(dropped + expired));
        self.bytes = self
            .bytes
            .saturating_sub(to_u64(dropped_bytes + expired_bytes));
        Ok(to_u64(dropped + expired))
    }

    /// Remembers the last delivery error for `health()`.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn note_error(&mut self, message: &str) -> Result<(), SdkError> {
        set_meta(&self.conn, "last_error", message)
    }

    /// Figures for `health()`.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn stats(&self) -> Result<OutboxStats, SdkError> {
        let oldest: Option<i64> = self
            .conn
            .query_row(
                "select enqueued_at_ms from outbox order by position limit 1",
                [],
                |row| row.get(0),
            )
            .optional()?;
        let counter = |name: &str| -> Result<u64, SdkError> {
            let value: Option<i64> = self
                .conn
                .query_row(
                    "select value from counters where name = ?1",
                    [name],
                    |row| row.get(0),
                )
                .optional()?;
            Ok(to_u64(value.unwrap_or(0)))
        };
        let meta = |name: &str| -> Result<Option<String>, SdkError> {
            Ok(self
                .conn
                .query_row("select value from meta where name = ?1", [name], |row| {
                    row.get(0)
                })
                .optional()?)
        };
        // From the table, not the running totals the caps use: health() is the app's and
        // support's view of what is really waiting, and reads it where it is kept.
        let (pending_events, pending_bytes): (i64, i64) = self.conn.query_row(
            "select count(*), coalesce(sum(bytes), 0) from outbox",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok(OutboxStats {
            pending_events: to_u64(pending_events),
            pending_bytes: to_u64(pending_bytes),
            oldest_enqueued_at_ms: oldest,
            dropped: counter(counter::DROPPED)?,
            refused: counter(counter::REFUSED)?,
            dead_lettered: counter(counter::DEAD_LETTERED)?,
            delivered: counter(counter::DELIVERED)?,
            already_there: counter(counter::ALREADY_THERE)?,
            quarantined: counter(counter::QUARANTINED)?,
            last_error: meta("last_error")?,
            last_success_at_ms: meta("last_success_at_ms")?.and_then(|v| v.parse().ok()),
        })
    }

    /// The dead-lettered events' ids and reasons (for tests and support); a quarantined row
    /// whose id is not a UUID shows as the nil UUID.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn dead_letters(&self) -> Result<Vec<(Uuid, String)>, SdkError> {
        let mut statement = self
            .conn
            .prepare("select event_id, reason from dead_letter order by at_ms, rowid")?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, reason) = row?;
            out.push((Uuid::parse_str(&id).unwrap_or(Uuid::nil()), reason));
        }
        Ok(out)
    }
}

/// One upload's enqueue inside a write transaction (see [`Outbox::enqueue`]): evicts at the
/// caps, then stores the row and the events, or counts the drop or refusal. `totals` is the
/// outbox's (count, bytes) before, and after on return (evictions included, also on
/// [`SdkError::QueueFull`], whose counter bump the caller commits).
fn stage(
    tx: &Transaction<'_>,
    caps: Caps,
    totals: &mut (u64, u64),
    change: UploadChange<'_>,
    events: &[UploadEvent],
    bodies: &[String],
    now_ms: i64,
) -> Result<Enqueued, SdkError> {
    let new_bytes: u64 = bodies.iter().map(|b| b.len() as u64).sum();
    let new_count = events.len() as u64;
    let progress_only = events
        .iter()
        .all(|e| matches!(e.payload, monitor_core::EventPayload::Progress { .. }));
    let (count, bytes) = totals;
    let fits = |count: u64, bytes: u64| {
        count.saturating_add(new_count) <= caps.max_events
            && bytes.saturating_add(new_bytes) <= caps.max_bytes
    };
    if !fits(*count, *bytes) {
        let (n, b) = evict_superseded_progress(tx)?;
        *count -= n;
        *bytes -= b;
        bump(tx, counter::DROPPED, n)?;
    }
    if !fits(*count, *bytes) && progress_only {
        bump(tx, counter::DROPPED, new_count)?;
        return Ok(Enqueued::DroppedProgress);
    }
    if !fits(*count, *bytes) {
        let (c, b0) = (*count, *bytes);
        let (n, b) = evict_oldest_progress(tx, |n, b| fits(c - n, b0 - b))?;
        *count -= n;
        *bytes -= b;
        bump(tx, counter::DROPPED, n)?;
    }
    if !fits(*count, *bytes) {
        bump(tx, counter::REFUSED, 1)?;
        let kind = events
            .iter()
            .find(|e| !matches!(e.payload, monitor_core::EventPayload::Progress { .. }))
            .map_or("progress", |e| e.payload.kind());
        return Err(SdkError::QueueFull { kind });
    }
    upsert_upload(tx, change, now_ms)?;
    let mut insert = tx.prepare_cached(
        "insert into outbox (event_id, upload_id, kind, body, bytes, enqueued_at_ms) \
         values (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (event, body) in events.iter().zip(bodies) {
        insert.execute(params![
            event.id.to_string(),
            event.upload_id.to_string(),
            event.payload.kind(),
            body,
            body.len() as i64,
            now_ms
        ])?;
    }
    *count += new_count;
    *bytes += new_bytes;
    Ok(Enqueued::Stored)
}

fn upsert_upload(
    tx: &Transaction<'_>,
    change: UploadChange<'_>,
    now_ms: i64,
) -> Result<(), SdkError> {
    let record = change.record;
    let json = serde_json::to_string(record)?;
    tx.prepare_cached(
        "insert into uploads (upload_id, local_id, uri, metadata, record, updated_at_ms) \
         values (?1, ?2, ?3, coalesce(?4, '{}'), ?5, ?6) \
         on conflict (upload_id) do update set \
           uri = coalesce(excluded.uri, uploads.uri), \
           metadata = coalesce(?4, uploads.metadata), \
           record = excluded.record, updated_at_ms = excluded.updated_at_ms",
    )?
    .execute(params![
        record.id.to_string(),
        record.local_id,
        change.uri,
        change.metadata_json,
        json,
        now_ms
    ])?;
    Ok(())
}

/// Deletes progress events that a newer waiting event of the same upload covers.
fn evict_superseded_progress(tx: &Transaction<'_>) -> Result<(u64, u64), SdkError> {
    let (n, b): (i64, i64) = tx.query_row(
        "select count(*), coalesce(sum(bytes), 0) from outbox o where o.kind = 'progress' \
         and exists (select 1 from outbox n where n.upload_id = o.upload_id \
                     and n.position > o.position)",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    if n > 0 {
        tx.execute(
            "delete from outbox where kind = 'progress' and exists (select 1 from outbox n \
             where n.upload_id = outbox.upload_id and n.position > outbox.position)",
            [],
        )?;
    }
    Ok((to_u64(n), to_u64(b)))
}

/// Deletes the oldest progress events until `fits(evicted count, evicted bytes)` holds or
/// none is left.
fn evict_oldest_progress(
    tx: &Transaction<'_>,
    fits: impl Fn(u64, u64) -> bool,
) -> Result<(u64, u64), SdkError> {
    let victims: Vec<(i64, i64)> = {
        let mut statement = tx.prepare(
            "select position, bytes from outbox where kind = 'progress' order by position",
        )?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        let mut victims = Vec::new();
        let (mut n, mut b) = (0u64, 0u64);
        for row in rows {
            if fits(n, b) {
                break;
            }
            let (position, bytes): (i64, i64) = row?;
            victims.push((position, bytes));
            n += 1;
            b += to_u64(bytes);
        }
        victims
    };
    let mut delete = tx.prepare_cached("delete from outbox where position = ?1")?;
    let (mut n, mut b) = (0u64, 0u64);
    for (position, bytes) in victims {
        delete.execute([position])?;
        n += 1;
        b += to_u64(bytes);
    }
    Ok((n, b))
}

fn bump(tx: &Transaction<'_>, name: &str, by: u64) -> Result<(), SdkError> {
    if by > 0 {
        tx.prepare_cached(
            "insert into counters (name, value) values (?1, ?2) \
             on conflict (name) do update set value = value + excluded.value",
        )?
        .execute(params![name, by as i64])?;
    }
    Ok(())
}

fn set_meta(conn: &Connection, name: &str, value: &str) -> Result<(), SdkError> {
    conn.execute(
        "insert into meta (name, value) values (?1, ?2) \
         on conflict (name) do update set value = excluded.value",
        params![name, value],
    )?;
    Ok(())
}

/// Uploads as a JSON array of their ids, as the `upload_id` column spells them (for
/// `json_each`).
fn id_list(uploads: &[Uuid]) -> String {
    serde_json::Value::from(
        uploads
            .iter()
            .map(|u| serde_json::Value::from(u.to_string()))
            .collect::<Vec<_>>(),
    )
    .to_string()
}

/// SQLite integers are i64; counts and sizes are never negative.
fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use monitor_core::{apply, EventPayload, Step};

    /// The upload every test here reports about.
    const UPLOAD: Uuid = Uuid::from_u128(0x0192_a7b0_0000_7000_8000_0000_0000_00aa);
    /// Fixed device time: 2026-11-24 09:00 UTC.
    const NOW_MS: i64 = 1_795_510_800_000;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(NOW_MS).unwrap_or_default()
    }

    fn event(seq: i64, payload: EventPayload) -> UploadEvent {
        UploadEvent {
            id: Uuid::from_u128(0x1000 + seq as u128),
            upload_id: UPLOAD,
            seq,
            at: at(),
            payload,
        }
    }

    fn begin() -> (UploadRecord, UploadEvent) {
        let e = event(
            1,
            EventPayload::Begin {
                local_id: "import_1_0".into(),
                video_title: None,
                filename: "a.mov".into(),
                file_size: Some(1_000),
                source: None,
                metadata: None,
                device: None,
                user_id: None,
            },
        );
        let Ok(Step::Applied { record, .. }) = apply(None, &e, Uuid::nil(), at()) else {
            panic!("a valid begin")
        };
        (record, e)
    }

    fn progress(seq: i64, percent: i32) -> UploadEvent {
        event(
            seq,
            EventPayload::Progress {
                bytes_sent: i64::from(percent) * 10,
                progress: percent,
                upload_speed: None,
            },
        )
    }

    fn open(dir: &tempfile::TempDir, max_events: u64) -> Outbox {
        Outbox::open(
            &dir.path().join("outbox.sqlite"),
            Caps {
                max_events,
                max_bytes: 1 << 20,
            },
        )
        .unwrap()
    }

    fn change(record: &UploadRecord) -> UploadChange<'_> {
        UploadChange {
            record,
            uri: None,
            metadata_json: None,
        }
    }

    #[test]
    fn events_survive_reopening_and_leave_when_settled() {
        let dir = tempfile::tempdir().unwrap();
        let (record, e) = begin();
        {
            let mut outbox = open(&dir, 10);
            outbox
                .enqueue(change(&record), std::slice::from_ref(&e), NOW_MS)
                .unwrap();
        }
        let mut outbox = open(&dir, 10);
        let pending = outbox.peek(10).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].event_id, e.id);
        assert_eq!(outbox.load_records(NOW_MS).unwrap(), (vec![record], 0));
        outbox
            .settle(&[Settlement::Delivered(pending[0].position)], NOW_MS)
            .unwrap();
        let stats = outbox.stats().unwrap();
        assert_eq!((stats.pending_events, stats.delivered), (0, 1));
        assert_eq!(stats.last_success_at_ms, Some(NOW_MS));
    }

    #[test]
    fn a_second_connection_on_the_same_file_never_leaves_the_caps_counting_ghosts() {
        // A reporter reopened on the file while the previous one still settles its last
        // batch: the old handle deletes rows the new one counted at open.
        let dir = tempfile::tempdir().unwrap();
        let mut old = open(&dir, 3);
        let (record, b) = begin();
        old.enqueue(change(&record), &[b], NOW_MS).unwrap();
        old.enqueue(change(&record), &[progress(2, 20)], NOW_MS)
            .unwrap();
        let mut new = open(&dir, 3);
        let pending = old.peek(10).unwrap();
        let settled: Vec<Settlement> = pending
            .iter()
            .map(|p| Settlement::Delivered(p.position))
            .collect();
        old.settle(&settled, NOW_MS).unwrap();
        // Three more fit under the cap of 3 only if the two settled rows are not counted.
        let complete = event(5, EventPayload::Complete { video_id: None });
        new.enqueue(change(&record), &[progress(3, 30)], NOW_MS)
            .unwrap();
        new.enqueue(change(&record), &[progress(4, 40)], NOW_MS)
            .unwrap();
        let stored = new.enqueue(change(&record), &[complete], NOW_MS);
        assert!(matches!(stored, Ok(Enqueued::Stored)), "{stored:?}");
        let stats = new.stats().unwrap();
        assert_eq!(
            (stats.pending_events, stats.dropped, stats.refused),
            (3, 0, 0)
        );
    }

    #[test]
    fn events_the_server_already_had_leave_the_outbox_and_are_counted_apart() {
        let dir = tempfile::tempdir().unwrap();
        let mut outbox = open(&dir, 10);
        let (record, b) = begin();
        outbox.enqueue(change(&record), &[b], NOW_MS).unwrap();
        outbox
            .enqueue(change(&record), &[progress(2, 20)], NOW_MS)
            .unwrap();
        let pending = outbox.peek(10).unwrap();
        outbox
            .settle(
                &[
                    Settlement::Delivered(pending[0].position),
                    Settlement::AlreadyThere(pending[1].position),
                ],
                NOW_MS,
            )
            .unwrap();
        let stats = outbox.stats().unwrap();
        assert_eq!(
            (stats.pending_events, stats.delivered, stats.already_there),
            (0, 2, 1)
        );
    }

    #[test]
    fn superseded_progress_is_evicted_first_and_terminal_events_are_refused_not_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut outbox = open(&dir, 4);
        let (record, b) = begin();
        outbox.enqueue(change(&record), &[b], NOW_MS).unwrap();
        for seq in 2..=4 {
            outbox
                .enqueue(change(&record), &[progress(seq, seq as i32)], NOW_MS)
                .unwrap();
        }
        // Full (4). A fail evicts the two superseded progress events (seq 2, 3).
        let fail = event(
            5,
            EventPayload::Fail {
                error_code: "network".into(),
                error_message: "lost".into(),
                retry_count: Some(0),
            },
        );
        assert_eq!(
            outbox.enqueue(change(&record), &[fail], NOW_MS).unwrap(),
            Enqueued::Stored
        );
        let stats = outbox.stats().unwrap();
        assert_eq!((stats.pending_events, stats.dropped), (3, 2));
        // Outbox = begin, progress 4, fail. A progress evicts the superseded progress 4.
        let mut outbox = open(&dir, 3);
        let stored = outbox.enqueue(change(&record), &[progress(6, 9)], NOW_MS);
        assert_eq!(stored.unwrap(), Enqueued::Stored);
        // Full of events that are each the newest of their kind: progress is dropped, counted.
        let dropped = outbox.enqueue(change(&record), &[progress(7, 9)], NOW_MS);
        assert_eq!(dropped.unwrap(), Enqueued::DroppedProgress);
        // A terminal event evicts the oldest progress to make room.
        let retry = event(8, EventPayload::Retry);
        assert_eq!(
            outbox.enqueue(change(&record), &[retry], NOW_MS).unwrap(),
            Enqueued::Stored
        );
        // Nothing left to evict: the next one is refused with an error, and counted.
        let refused = outbox.enqueue(change(&record), &[event(9, EventPayload::Retry)], NOW_MS);
        assert!(matches!(
            refused,
            Err(SdkError::QueueFull { kind: "retry" })
        ));
        let stats = outbox.stats().unwrap();
        assert_eq!(
            (stats.pending_events, stats.dropped, stats.refused),
            (3, 5, 1)
        );
    }

    /// A second upload, beside [`UPLOAD`], for the byte cap test.
    const OTHER: Uuid = Uuid::from_u128(0x0192_a7b0_0000_7000_8000_0000_0000_00bb);

    /// `event` for [`OTHER`] (ids apart from [`UPLOAD`]'s).
    fn other_event(seq: i64, payload: EventPayload) -> UploadEvent {
        UploadEvent {
            id: Uuid::from_u128(0x2000 + seq as u128),
            upload_id: OTHER,
            ..event(seq, payload)
        }
    }

    /// A failure with a ~2,000-character message (a stack trace, say): as big as ~10
    /// progress events, so the byte cap binds long before the count cap.
    fn long_fail() -> EventPayload {
        EventPayload::Fail {
            error_code: "crash".into(),
            error_message: "at VideoUploader.upload (VideoUploader.ts:42)\n".repeat(44),
            retry_count: Some(0),
        }
    }

    fn bytes(event: &UploadEvent) -> u64 {
        serde_json::to_string(event).unwrap().len() as u64
    }

    fn pending_ids(outbox: &mut Outbox) -> Vec<Uuid> {
        outbox
            .peek(100)
            .unwrap()
            .into_iter()
            .map(|p| p.event_id)
            .collect()
    }

    #[test]
    fn the_byte_cap_evicts_superseded_progress_first_and_refuses_what_still_does_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let (a, a_begin) = begin();
        let a_progress = progress(2, 20);
        let b_begin = other_event(
            1,
            EventPayload::Begin {
                local_id: "import_1_1".into(),
                video_title: None,
                filename: "b.mov".into(),
                file_size: Some(1_000),
                source: None,
                metadata: None,
                device: None,
                user_id: None,
            },
        );
        let Ok(Step::Applied { record: b, .. }) = apply(None, &b_begin, Uuid::nil(), at()) else {
            panic!("a valid begin")
        };
        let b_progress: Vec<UploadEvent> = (2..=4)
            .map(|seq| UploadEvent {
                upload_id: OTHER,
                id: Uuid::from_u128(0x2000 + seq as u128),
                ..progress(seq, seq as i32 * 10)
            })
            .collect();
        let b_fail = other_event(5, long_fail());
        // Room for everything but B's two superseded progress events: the failure fits
        // exactly once they are gone.
        let cap = bytes(&a_begin)
            + bytes(&a_progress)
            + bytes(&b_begin)
            + bytes(&b_progress[2])
            + bytes(&b_fail);
        let mut outbox = Outbox::open(
            &dir.path().join("outbox.sqlite"),
            Caps {
                max_events: 1_000,
                max_bytes: cap,
            },
        )
        .unwrap();
        outbox
            .enqueue(change(&a), &[a_begin.clone(), a_progress.clone()], NOW_MS)
            .unwrap();
        outbox
            .enqueue(change(&b), std::slice::from_ref(&b_begin), NOW_MS)
            .unwrap();
        for p in &b_progress {
            let stored = outbox.enqueue(change(&b), std::slice::from_ref(p), NOW_MS);
            assert_eq!(stored.unwrap(), Enqueued::Stored);
        }

        // B's failure: B's progress at 20 % and 30 % (covered by 40 %) go first; A's older
        // progress is still A's newest news and stays.
        let stored = outbox.enqueue(change(&b), std::slice::from_ref(&b_fail), NOW_MS);
        assert_eq!(stored.unwrap(), Enqueued::Stored);
        assert_eq!(
            pending_ids(&mut outbox),
            [
                a_begin.id,
                a_progress.id,
                b_begin.id,
                b_progress[2].id,
                b_fail.id
            ]
        );
        let stats = outbox.stats().unwrap();
        assert_eq!(
            (stats.pending_bytes, stats.dropped, stats.refused),
            (cap, 2, 0)
        );

        // A progress of A with a speed (bigger than B's last progress, now superseded by the
        // failure and evicted): still no room, so it is dropped and counted.
        let a_faster = event(
            3,
            EventPayload::Progress {
                bytes_sent: 300,
                progress: 30,
                upload_speed: Some(1.25),
            },
        );
        assert!(bytes(&a_faster) > bytes(&b_progress[2]));
        let dropped = outbox.enqueue(change(&a), std::slice::from_ref(&a_faster), NOW_MS);
        assert_eq!(dropped.unwrap(), Enqueued::DroppedProgress);
        assert_eq!(
            pending_ids(&mut outbox),
            [a_begin.id, a_progress.id, b_begin.id, b_fail.id]
        );

        // A's own long failure cannot fit even with every progress gone: refused with an
        // error and counted, and no begin or failure already stored makes room for it.
        let a_fail = event(3, long_fail());
        let refused = outbox.enqueue(change(&a), std::slice::from_ref(&a_fail), NOW_MS);
        assert!(
            matches!(refused, Err(SdkError::QueueFull { kind: "fail" })),
            "{refused:?}"
        );
        let left = pending_ids(&mut outbox);
        for kept in [a_begin.id, b_begin.id, b_fail.id] {
            assert!(left.contains(&kept), "{kept} was evicted");
        }
        assert!(!left.contains(&a_fail.id));
        let stats = outbox.stats().unwrap();
        assert!(stats.pending_bytes <= cap, "{stats:?}");
        assert_eq!(stats.refused, 1);
        // Every progress event offered (A's two, B's three) is waiting or counted dropped.
        let progress_left = left
            .iter()
            .filter(|id| [a_progress.id, b_progress[2].id].contains(id))
            .count() as u64;
        assert_eq!(progress_left + stats.dropped, 5, "{stats:?}");

        // Once the server has B's failure, A's fits: refused was "not now", not "lost".
        let b_fail_position = outbox
            .peek(100)
            .unwrap()
            .into_iter()
            .find(|p| p.event_id == b_fail.id)
            .unwrap()
            .position;
        outbox
            .settle(&[Settlement::Delivered(b_fail_position)], NOW_MS)
            .unwrap();
        let stored = outbox.enqueue(change(&a), std::slice::from_ref(&a_fail), NOW_MS);
        assert_eq!(stored.unwrap(), Enqueued::Stored);
        let stats = outbox.stats().unwrap();
        assert!(stats.pending_bytes <= cap, "{stats:?}");
        assert!(
            stats.pending_events < 10,
            "the count cap never bound: {stats:?}"
        );
    }

    #[test]
    fn rows_that_cannot_be_sent_as_stored_are_quarantined_and_the_rest_is_peeked() {
        let dir = tempfile::tempdir().unwrap();
        let mut outbox = open(&dir, 10);
        let (record, b) = begin();
        let events: Vec<UploadEvent> = (2..=5).map(|seq| progress(seq, seq as i32)).collect();
        outbox
            .enqueue(change(&record), std::slice::from_ref(&b), NOW_MS)
            .unwrap();
        outbox.enqueue(change(&record), &events, NOW_MS).unwrap();
        // Three kinds of damage a bad write could leave; seq 5 is intact.
        let corrupt = [
            "update outbox set upload_id = 'x' where event_id = ?1",
            "update outbox set body = '{\"id\": tru' where event_id = ?1",
            "update outbox set body = replace(body, ?1, ?2) where event_id = ?1",
        ];
        let other = Uuid::from_u128(0xdead).to_string();
        for (sql, event) in corrupt.iter().zip(&events) {
            let id = event.id.to_string();
            if sql.contains("?2") {
                outbox.conn.execute(sql, [&id, &other]).unwrap();
            } else {
                outbox.conn.execute(sql, [&id]).unwrap();
            }
        }
        assert_eq!(pending_ids(&mut outbox), [b.id, events[3].id]);
        assert_eq!(outbox.take_quarantined(), 3);
        let stats = outbox.stats().unwrap();
        assert_eq!(
            (stats.pending_events, stats.quarantined, stats.dead_lettered),
            (2, 3, 3)
        );
        let reasons: Vec<String> = outbox
            .dead_letters()
            .unwrap()
            .into_iter()
            .map(|(_, reason)| reason)
            .collect();
        assert_eq!(
            reasons,
            [
                "corrupt: upload_id is not a UUID",
                "corrupt: body is not an event",
                "corrupt: body does not match its row"
            ]
        );
    }

    #[test]
    fn old_progress_is_dropped_and_old_terminal_events_are_dead_lettered() {
        let dir = tempfile::tempdir().unwrap();
        let mut outbox = open(&dir, 10);
        let (record, b) = begin();
        outbox
            .enqueue(change(&record), &[b, progress(2, 5)], NOW_MS)
            .unwrap();
        let day = 86_400_000;
        assert_eq!(outbox.expire(day, NOW_MS + 2 * day).unwrap(), 2);
        let stats = outbox.stats().unwrap();
        assert_eq!(
            (stats.pending_events, stats.dropped, stats.dead_lettered),
            (0, 1, 1)
        );
        assert_eq!(outbox.dead_letters().unwrap()[0].1, "expired");
    }

    #[test]
    fn a_file_written_by_the_unversioned_v1_schema_is_upgraded_without_losing_anything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.sqlite");
        let (record, b) = begin();
        let body = serde_json::to_string(&b).unwrap();
        {
            // The file as SDKs before the version wrote it: v1's DDL, user_version 0, an
            // upload with every old column filled, its begin waiting, a dead letter, counters.
            let old = Connection::open(&path).unwrap();
            old.execute_batch(SCHEMA_V1).unwrap();
            old.execute(
                "insert into uploads (upload_id, local_id, uri, filename, title, status, stage, \
                   progress, error, retry_count, metadata, last_seq, record, updated_at_ms) \
                 values (?1, 'import_1_0', 'file:///a.mov', 'a.mov', null, 'pending', null, 0, \
                   null, 0, '{\"k\":1}', 1, ?2, ?3)",
                params![
                    UPLOAD.to_string(),
                    serde_json::to_string(&record).unwrap(),
                    NOW_MS
                ],
            )
            .unwrap();
            old.execute(
                "insert into outbox (event_id, upload_id, kind, body, bytes, enqueued_at_ms) \
                 values (?1, ?2, 'begin', ?3, ?4, ?5)",
                params![
                    b.id.to_string(),
                    UPLOAD.to_string(),
                    body,
                    body.len() as i64,
                    NOW_MS
                ],
            )
            .unwrap();
            old.execute_batch(
                "insert into dead_letter values ('x', 'y', 'fail', '{}', 'expired', 1); \
                 insert into counters values ('delivered', 7);",
            )
            .unwrap();
            let version: i64 = old
                .query_row("pragma user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(version, 0);
        }
        let mut outbox = open(&dir, 10);
        let version: i64 = outbox
            .conn
            .query_row("pragma user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let columns: Vec<String> = outbox
            .conn
            .prepare("select name from pragma_table_info('uploads') order by cid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            columns,
            [
                "upload_id",
                "local_id",
                "uri",
                "metadata",
                "record",
                "updated_at_ms"
            ]
        );
        let index: Option<String> = outbox
            .conn
            .query_row(
                "select name from sqlite_master where name = 'uploads_local_id'",
                [],
                |r| r.get(0),
            )
            .optional()
            .unwrap();
        assert_eq!(index, None);
        // Nothing lost: the waiting event, the upload with its uri and metadata, the dead
        // letter and the counters; and the upgraded file takes new events.
        assert_eq!(pending_ids(&mut outbox), [b.id]);
        assert_eq!(
            outbox.load_records(NOW_MS).unwrap(),
            (vec![record.clone()], 0)
        );
        let rows = outbox.list_uploads().unwrap();
        assert_eq!(rows[0].uri.as_deref(), Some("file:///a.mov"));
        assert_eq!(rows[0].metadata_json, "{\"k\":1}");
        let stats = outbox.stats().unwrap();
        assert_eq!(
            (stats.pending_events, stats.delivered, stats.dead_lettered),
            (1, 7, 0)
        );
        assert_eq!(outbox.dead_letters().unwrap().len(), 1);
        let stored = outbox.enqueue(change(&record), &[progress(2, 20)], NOW_MS);
        assert_eq!(stored.unwrap(), Enqueued::Stored);
        // Opening again runs nothing more.
        drop(outbox);
        let mut outbox = open(&dir, 10);
        assert_eq!(pending_ids(&mut outbox).len(), 2);
    }

    #[test]
    fn a_file_of_a_newer_sdk_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.sqlite");
        {
            let newer = Connection::open(&path).unwrap();
            newer
                .execute_batch(&format!("pragma user_version = {}", SCHEMA_VERSION + 1))
                .unwrap();
        }
        let opened = Outbox::open(
            &path,
            Caps {
                max_events: 10,
                max_bytes: 1 << 20,
            },
        );
        assert!(
            matches!(
                opened,
                Err(SdkError::OutboxSchemaTooNew { found, supported })
                    if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION
            ),
            "{opened:?}"
        );
        let tables: i64 = Connection::open(&path)
            .unwrap()
            .query_row("select count(*) from sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0);
    }
}
