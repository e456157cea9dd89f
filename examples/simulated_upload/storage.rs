//! The bytes a simulated phone moves: its video's upload to Supabase Storage over HTTP, paced
//! by the phone's simulated link, and the generated thumbnail of a finished one.
//!
//! A video's bytes are generated (a fixed pseudo-random pattern) and scaled down by
//! [`DEFAULT_BYTE_SCALE`] (`--byte-scale`), so a run stays light: the card shows the real file
//! size (a 1 GiB video), the phone sends size / scale bytes (1 MiB) and reports its progress
//! scaled back up. The upload is what the app's `VideoUploader` sends with
//! `FileSystem.createUploadTask` (binary content): `POST /storage/v1/object/videos/<user>/<file>`
//! with the user's JWT and the anon key, `x-upsert: true` (a retry replaces what an earlier
//! attempt may have left), the body streamed chunk by chunk. The phone is the throttle: each
//! step it lets through what its simulated link carries in that step
//! ([`Transfer::allow`]), and it reads back the bytes the HTTP client actually took from the
//! body ([`Transfer::sent`]), as `createUploadTask`'s callback reports `totalBytesSent`.
//! [`Transfer::abort`] (a kill, a network drop, the dynamic timeout) cuts the request: the
//! server sees the body end early and keeps nothing.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Real file size / bytes sent: a 1 GiB video moves 1 MiB (the largest simulated video, 2 GiB,
/// stays far under Storage's 50 MiB default limit).
pub const DEFAULT_BYTE_SCALE: u64 = 1024;
/// The video bucket (`migrations/20261202140000_storage_buckets.sql`).
pub const VIDEOS_BUCKET: &str = "videos";
/// The thumbnail bucket.
pub const THUMBNAILS_BUCKET: &str = "thumbnails";
/// The largest chunk handed to the HTTP client at once.
const CHUNK: usize = 64 * 1024;

/// Where a phone's bytes go: the project's API and the user's credentials.
#[derive(Debug, Clone)]
pub struct StorageAccess {
    /// One HTTP client for the fleet (its connection pool; each upload is its own request).
    pub http: reqwest::Client,
    /// `SUPABASE_URL`.
    pub api_url: String,
    /// The anon key (`apikey`).
    pub anon_key: String,
    /// The user's access token.
    pub token: String,
}

impl StorageAccess {
    fn object_url(&self, bucket: &str, name: &str) -> String {
        format!("{}/storage/v1/object/{bucket}/{name}", self.api_url)
    }
}

/// The object name of a user's file: under the user's own folder, as the buckets' policies
/// require. `videos.file_path` and `thumbnail_path` hold it (the path inside the bucket, what
/// `storage.from(bucket).createSignedUrl(path)` takes).
pub fn object_name(user: Uuid, file: &str) -> String {
    format!("{user}/{file}")
}

/// Bytes sent for a file of `size` bytes: size / scale, at least one.
pub fn scaled(size: u64, scale: u64) -> u64 {
    size.div_ceil(scale.max(1)).max(1)
}

/// 64 KiB of pseudo-random bytes (video data does not compress), sliced for every chunk.
fn pattern() -> &'static Bytes {
    static PATTERN: OnceLock<Bytes> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut rng = fastrand::Rng::with_seed(0x5EED);
        Bytes::from((0..CHUNK).map(|_| rng.u8(..)).collect::<Vec<u8>>())
    })
}

/// The phone dropped the link: the body ends before its declared length.
#[derive(Debug, thiserror::Error)]
#[error("the link was cut")]
struct Cut;

/// The request body: chunks the phone let through, counted as the HTTP client takes them.
struct PacedBody {
    chunks: mpsc::UnboundedReceiver<Bytes>,
    sent: Arc<AtomicU64>,
    remaining: u64,
}

impl Body for PacedBody {
    type Data = Bytes;
    type Error = Cut;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Cut>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        match this.chunks.poll_recv(cx) {
            Poll::Ready(Some(chunk)) => {
                let n = chunk.len() as u64;
                this.remaining = this.remaining.saturating_sub(n);
                this.sent.fetch_add(n, Ordering::Relaxed);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(None) => Poll::Ready(Some(Err(Cut))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    /// Exact: the request declares its `Content-Length`, as a file upload does.
    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// One attempt at uploading a video's bytes.
#[derive(Debug)]
pub struct Transfer {
    link: Option<mpsc::UnboundedSender<Bytes>>,
    /// Bytes handed to the body so far.
    allowed: u64,
    /// Fractional bytes the link carried but not yet handed over.
    owed: f64,
    total: u64,
    sent: Arc<AtomicU64>,
    task: Option<JoinHandle<Result<(), String>>>,
    runtime: tokio::runtime::Handle,
}

impl Transfer {
    /// Starts the request for `total` bytes to `bucket/name` on `runtime`; nothing moves until
    /// [`Transfer::allow`].
    pub fn start(
        runtime: &tokio::runtime::Handle,
        access: &StorageAccess,
        name: &str,
        content_type: &str,
        total: u64,
    ) -> Self {
        let (link, chunks) = mpsc::unbounded_channel();
        let sent = Arc::new(AtomicU64::new(0));
        let body = PacedBody {
            chunks,
            sent: sent.clone(),
            remaining: total,
        };
        let request = access
            .http
            .post(access.object_url(VIDEOS_BUCKET, name))
            .header("apikey", &access.anon_key)
            .bearer_auth(&access.token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header("x-upsert", "true")
            .body(reqwest::Body::wrap(body));
        let task = runtime.spawn(async move { answer(request.send().await).await });
        Transfer {
            link: Some(link),
            allowed: 0,
            owed: 0.0,
            total,
            sent,
            task: Some(task),
            runtime: runtime.clone(),
        }
    }

    /// Lets `bytes` more through the link (fractions carry over), never past `cap` bytes in
    /// all (a planned network drop or kill stops the bytes where it happens).
    pub fn allow(&mut self, bytes: f64, cap: u64) {
        let Some(link) = &self.link else {
            return;
        };
        self.owed += bytes.max(0.0);
        let limit = cap.min(self.total);
        while self.allowed < limit && self.owed >= 1.0 {
            let n = (limit - self.allowed)
                .min(self.owed as u64)
                .min(CHUNK as u64) as usize;
            if link.send(pattern().slice(..n)).is_err() {
                return;
            }
            self.allowed += n as u64;
            self.owed -= n as f64;
        }
        if self.allowed >= limit {
            // A stalled link does not bank what it could not carry.
            self.owed = 0.0;
        }
    }

    /// Bytes the HTTP client took from the body (`totalBytesSent`).
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Bytes this attempt sends in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The server's answer once the request is over: `Ok` when Storage stored the object.
    pub fn finished(&mut self) -> Option<Result<(), String>> {
        if !self.task.as_ref().is_some_and(JoinHandle::is_finished) {
            return None;
        }
        let task = self.task.take()?;
        Some(
            self.runtime
                .block_on(task)
                .unwrap_or_else(|e| Err(format!("upload task: {e}"))),
        )
    }

    /// Cuts the request (the app died, the network dropped, the timeout fired): the body ends
    /// early, the connection closes, the server keeps nothing.
    pub fn abort(&mut self) {
        self.link = None;
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        self.abort();
    }
}

async fn answer(response: Result<reqwest::Response, reqwest::Error>) -> Result<(), String> {
    let response = response.map_err(|e| format!("Network request failed ({e})"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    Err(format!("Storage answered {status}: {text}"))
}

/// Uploads a small object at once (the thumbnail), from a phone's thread.
///
/// # Errors
///
/// The network or Storage refused it.
pub fn put_small(
    runtime: &tokio::runtime::Handle,
    access: &StorageAccess,
    bucket: &str,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Result<(), String> {
    let request = access
        .http
        .post(access.object_url(bucket, name))
        .header("apikey", &access.anon_key)
        .bearer_auth(&access.token)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .header("x-upsert", "true")
        .body(bytes);
    runtime.block_on(async move { answer(request.send().await).await })
}

// ---------------------------------------------------------------------------------------------
// Thumbnails
// ---------------------------------------------------------------------------------------------

/// Width and height of a generated thumbnail (16:9).
const THUMB_W: u32 = 64;
const THUMB_H: u32 = 36;

/// A 64×36 PNG (a gradient coloured by `seed`): what the app's thumbnail generator would
/// upload, small and valid (stored deflate blocks, no compression library needed).
pub fn thumbnail_png(seed: u64) -> Vec<u8> {
    let [r0, g0, b0, ..] = seed.to_le_bytes();
    let mut raw = Vec::with_capacity(((THUMB_W * 3 + 1) * THUMB_H) as usize);
    for y in 0..THUMB_H {
        raw.push(0); // filter: none
        for x in 0..THUMB_W {
            raw.push(r0.wrapping_add((x * 4) as u8));
            raw.push(g0.wrapping_add((y * 7) as u8));
            raw.push(b0.wrapping_add(((x + y) * 2) as u8));
        }
    }
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&THUMB_W.to_be_bytes());
    ihdr.extend_from_slice(&THUMB_H.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &zlib_stored(&raw));
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thumbnail_is_a_png_with_correct_checksums() {
        let png = thumbnail_png(7);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: length 13, then its CRC over type + data.
        assert_eq!(&png[8..16], b"\0\0\0\x0dIHDR");
        assert_eq!(
            u32::from_be_bytes(png[29..33].try_into().unwrap()),
            crc32(&png[12..29])
        );
        assert_eq!(
            crc32(b"IEND"),
            0xAE42_6082,
            "the CRC every PNG's IEND carries"
        );
        assert!(png.ends_with(&[0xAE, 0x42, 0x60, 0x82]));
    }

    #[test]
    fn scaled_sizes_round_up_and_never_reach_zero() {
        assert_eq!(scaled(1_073_741_824, 1024), 1_048_576);
        assert_eq!(scaled(1025, 1024), 2);
        assert_eq!(scaled(0, 1024), 1);
        assert_eq!(scaled(10, 0), 10);
    }
}
